"""Planner benchmark: validate a generated roster and plan 7 days, at several roster sizes.

For each size (agents; 200 shifts, 3 zones, 2 accounts, from ``gen_roster.generate``) two steps
are measured, each in a fresh subprocess so that its peak memory is its own:

- ``validate``: ``validate_text(text, now)``: YAML parse, roster checks and the 28-day conflict
  check (what ``shiftswitch roster validate`` and every roster reload do);
- ``plan``: ``Planner(roster).transitions(now, now + 7 days)`` on the validated roster, with the
  collector paused (``heap.paused()``) as the scheduler and the plan cache do.

Generating the YAML text (and, for ``plan``, validating it) happens before the clock starts and is
excluded from the timings. Each step runs ``--repeat`` times (3); the best and the median wall time
are reported, with the number of transitions and three memory figures:

- peak RSS: ``ru_maxrss`` of the subprocess, everything included (the generated text, and for
  ``plan`` also the untimed validation that produced the roster);
- RSS before the timed runs (``VmRSS``, after ``gc.collect()``);
- high-water during the timed runs: ``VmHWM`` after resetting it (``/proc/self/clear_refs``) just
  before them, i.e. the peak of the timed step itself (Linux only; "n/a" elsewhere);
- for ``plan`` only, the peak of Python memory allocated by one more, untimed, run under
  ``tracemalloc`` (the plan reuses memory the validation freed, which RSS cannot show).

``now`` is fixed: 2026-12-07T00:00Z, a Monday.

    python benchmarks/bench_planner.py               # 1,000, 10,000 and 100,000 agents
    python benchmarks/bench_planner.py 1000 10000    # chosen sizes

Exits 1 if a generated roster is not valid or a measurement fails or times out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import run_measurement
from gen_roster import SHIFTS, ZONES, generate

NOW = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday
PLAN_DAYS = 7
# The goal, at 10,000 agents and 200 shifts: validation under a second, and the
# 7-day plan (which the scheduler makes at every roster version) within 0.3 s.
TARGET_SECONDS = {"validate": 1.0, "plan": 0.3}
TARGET_AGENTS = 10_000
DEFAULT_SIZES = (1_000, 10_000, 100_000)
STEPS = ("validate", "plan")


def _peak_rss_mib() -> float:
    """Peak RSS of this process so far (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # KiB on Linux


def _status_mib(field: str) -> float | None:
    """``VmRSS`` or ``VmHWM`` from /proc/self/status, in MiB (None where there is no /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_high_water() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0), so VmHWM covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _worker(step: str, agents: int, seed: int, repeat: int) -> dict[str, Any]:
    """Run one step ``repeat`` times in this process; return the figures."""
    from shiftswitch import heap  # noqa: PLC0415
    from shiftswitch.planning.planner import Planner  # noqa: PLC0415 - keep imports out of the parent
    from shiftswitch.planning.validation import Report, validate_text  # noqa: PLC0415
    from shiftswitch.roster.model import Roster  # noqa: PLC0415

    def valid(report: Report) -> Roster:
        """The roster, or exit loudly: the generator must produce valid rosters."""
        if not report.ok or report.roster is None:
            problems = "\n".join(p.render() for p in report.errors[:20])
            raise SystemExit(f"generated roster ({agents} agents) is NOT valid:\n{problems}")
        return report.roster

    text = generate(agents, seed)
    roster = None if step == "validate" else valid(validate_text(text, NOW))  # untimed
    end = NOW + timedelta(days=PLAN_DAYS)
    gc.collect()
    rss_before = _status_mib("VmRSS")
    reset = _reset_high_water()
    times: list[float] = []
    count = 0
    for _ in range(repeat):
        if roster is None:
            t0 = time.perf_counter()
            report = validate_text(text, NOW)
            times.append(time.perf_counter() - t0)
            count = len(valid(report).agents)
        else:
            t0 = time.perf_counter()
            with heap.paused():  # as the scheduler and the plan cache plan
                transitions = Planner(roster).transitions(NOW, end)
            times.append(time.perf_counter() - t0)
            count = len(transitions)
            del transitions
    high_water = _status_mib("VmHWM") if reset else None
    peak = _peak_rss_mib()
    traced: float | None = None
    if roster is not None:
        # Memory freed by the validation above is reused by the plan, which hides the plan's
        # own needs from RSS; one more (untimed) run under tracemalloc shows them.
        tracemalloc.start()
        transitions = Planner(roster).transitions(NOW, end)
        traced = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
        tracemalloc.stop()
        del transitions
    return {
        "step": step,
        "agents": agents,
        "times": times,
        "count": count,
        "text_bytes": len(text.encode()),
        "rss_before_mib": rss_before,
        "step_high_water_mib": high_water,
        "peak_rss_mib": peak,
        "traced_peak_mib": traced,
    }


def _measure(step: str, agents: int, seed: int, repeat: int, timeout: float) -> dict[str, Any]:
    """Run one step in a fresh subprocess and return its figures (or raise)."""
    return run_measurement(
        __file__,
        [step, "--seed", str(seed), "--repeat", str(repeat), str(agents)],
        timeout,
        f"{step} at {agents} agents",
    )


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _row(r: dict[str, Any]) -> str:
    times: list[float] = r["times"]
    what = (
        f"{r['count']:,} agents valid, 0 conflicts"
        if r["step"] == "validate"
        else f"{r['count']:,} transitions"
    )
    return (
        f"| {r['agents']:,} | {r['step']} | {min(times):.3f} | {statistics.median(times):.3f} "
        f"| {what} | {r['peak_rss_mib']:.0f} | {_mib(r['rss_before_mib'])} "
        f"| {_mib(r['step_high_water_mib'])} | {_mib(r['traced_peak_mib'])} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time roster validation and a 7-day plan at several roster sizes."
    )
    parser.add_argument(
        "sizes", nargs="*", type=int, help="numbers of agents (default: 1000 10000 100000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per subprocess (600)"
    )
    parser.add_argument("--worker", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes: list[int] = args.sizes or list(DEFAULT_SIZES)

    if args.worker:
        print(json.dumps(_worker(args.worker, sizes[0], args.seed, args.repeat)))
        return 0

    print(
        f"# Planner benchmark: {SHIFTS} shifts, zones {', '.join(ZONES)}, 2 accounts; "
        f"now = {NOW:%Y-%m-%dT%H:%MZ}; best/median of {args.repeat} runs; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    failed = False
    for agents in sizes:
        for step in STEPS:
            started = time.perf_counter()
            try:
                r = _measure(step, agents, args.seed, args.repeat, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"FAILED: {exc}", file=sys.stderr, flush=True)
                failed = True
                continue
            results.append(r)
            print(
                f"  {agents:>7,} agents {step:<8} best {min(r['times']):.3f} s "
                f"({time.perf_counter() - started:.0f} s in subprocess)",
                file=sys.stderr,
                flush=True,
            )
    print(
        "| agents | step | best (s) | median (s) | result | peak RSS (MiB) "
        "| RSS before timed runs (MiB) | high-water during timed runs (MiB) "
        "| plan's traced peak (MiB) |"
    )
    print("|---:|---|---:|---:|---|---:|---:|---:|---:|")
    for r in results:
        print(_row(r))
    at_target = [r for r in results if r["agents"] == TARGET_AGENTS]
    if at_target:
        verdicts = ", ".join(
            f"{r['step']} {min(r['times']):.3f} s (target {TARGET_SECONDS[r['step']]} s: "
            f"{'met' if min(r['times']) <= TARGET_SECONDS[r['step']] else 'MISSED'})"
            for r in at_target
        )
        print(f"\nTargets at {TARGET_AGENTS:,} agents: {verdicts}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
