"""The test suite, by tier: ``unit`` (pure, no services), ``integration`` (real databases, Redis
and HTTP in this process) and ``system`` (real worker, scheduler and CLI processes)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
EXAMPLE_ROSTER = ROOT / "schedules.yaml"
EXAMPLE_SEED = ROOT / "sandbox.yaml"
