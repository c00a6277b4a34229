"""The console script itself, in subprocesses: installed, it starts, reads its environment and
exits with the status and the one line a user's mistake gets. (Every other test of the command
line calls the same entry point in its own process: ``tests/commands.py``.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import ROOT

SHIFTSWITCH = str(Path(sys.executable).parent / "shiftswitch")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIFTSWITCH, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env if env is not None else dict(os.environ),
        timeout=60,
        check=False,
    )


def test_the_console_script_plans_the_example_roster() -> None:
    done = run("plan", "--from", "2026-11-30T00:00", "--hours", "24")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["LOCAL", "UTC", "AGENT", "DEVICE", "STATE", "SHIFT/OVERRIDE"]
    assert lines[-1].startswith("6 transitions from 2026-11-29 18:30Z to 2026-11-30 18:30Z")


def test_a_mistake_is_one_line_and_exit_status_2() -> None:
    done = run("plna")
    assert done.returncode == 2
    assert done.stderr.startswith("shiftswitch: error: No such command 'plna'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_log_format_is_one_clear_line() -> None:
    done = run("scheduler", env={"SHIFTSWITCH_LOG_FORMAT": "xml", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    expected = "shiftswitch: error: SHIFTSWITCH_LOG_FORMAT='xml': use one of text, json\n"
    assert done.stderr == expected
