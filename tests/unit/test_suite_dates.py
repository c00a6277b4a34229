"""The suite passes on any day: a date written in a test is never compared with the machine's
clock (it would be "in the future" only until it is not)."""

from __future__ import annotations

import ast
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests import ROOT
from tests.commands import A_DATE, dated_on_the_real_clock, shiftswitch
from tests.pipeline import monday_before

# The tests that run shiftswitch's processes, which keep the machine's time.
ON_THE_REAL_CLOCK = [
    ROOT / "tests" / "pipeline.py",
    *sorted((ROOT / "tests" / "system").glob("*.py")),
]


def _dates_outside_a_window(path: Path) -> list[str]:
    """Each string in ``path`` that holds a date, outside a function that plans a window it
    names itself (``plan --from``, which never reads the clock)."""
    tree = ast.parse(path.read_text(), str(path))
    windows: set[int] = set()  # ids of the constants inside a function that plans a window
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            texts = {c.value for c in ast.walk(node) if isinstance(c, ast.Constant)}
            if {"plan", "--from"} <= texts:
                windows.update(id(c) for c in ast.walk(node) if isinstance(c, ast.Constant))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and A_DATE.search(node.value)
        and id(node) not in windows
    ]


def test_tests_that_run_processes_hold_no_written_date() -> None:
    found = [line for path in ON_THE_REAL_CLOCK for line in _dates_outside_a_window(path)]
    assert found == [], (
        "a date written in a test of real processes is compared with the machine's clock: "
        "derive it from tests.pipeline.at (the pipelines' Monday, computed from today)"
    )


@pytest.mark.parametrize("days", range(14))
def test_the_pipelines_monday_is_a_monday_one_to_two_weeks_back(days: int) -> None:
    today = date(2026, 11, 30) + timedelta(days=days)
    monday = monday_before(today)
    assert monday.weekday() == 0
    assert timedelta(days=7) <= today - monday <= timedelta(days=13)


def test_a_command_given_a_written_date_must_run_on_the_tests_clock() -> None:
    with pytest.raises(AssertionError, match="give the command the test's clock"):
        shiftswitch("override", "add", "asha", "--off", "--from", "2026-12-01", "--to", "now")
    assert dated_on_the_real_clock(["plan", "--from", "2026-11-30T00:00"]) is None  # a window
    assert dated_on_the_real_clock(["device", "off", "ravi", "--until", "2026-12-01T12:00"]) == (
        "2026-12-01T12:00"
    )
    assert dated_on_the_real_clock(["status"]) is None
