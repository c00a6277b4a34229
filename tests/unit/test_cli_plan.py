"""The plan command, run as a user runs it (from the repository, on its example roster)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import ROOT
from tests.commands import Ran, shiftswitch
from tests.rosters import roster_text


def run(*args: str, **env: str) -> Ran:
    return shiftswitch(*args, env={**os.environ, **env}, cwd=ROOT)


def test_plan_table_of_the_example_roster() -> None:
    done = run("plan", "--from", "2026-11-30T00:00", "--hours", "24")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["LOCAL", "UTC", "AGENT", "DEVICE", "STATE", "SHIFT/OVERRIDE"]
    assert "Mon 2026-11-30 09:00 Asia/Kolkata  2026-11-30 03:30Z  asha   desk" in lines[1]
    assert lines[-1].startswith("6 transitions from 2026-11-29 18:30Z to 2026-11-30 18:30Z")


def test_plan_json(tmp_path: Path) -> None:
    roster = tmp_path / "r.yaml"
    roster.write_text(
        roster_text(
            [
                {"name": "a", "start": "0 9 * * *", "duration": "4h", "members": ["asha:desk"]},
                {"name": "b", "start": "0 13 * * *", "duration": "4h", "members": ["asha:mobile"]},
            ],
            timezone="Europe/London",
        )
    )
    done = run(
        "plan",
        "--json",
        "--from",
        "2026-07-01T00:00+01:00",
        "--hours",
        "24",
        SHIFTSWITCH_ROSTER=str(roster),
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["at"], r["device"], r["available"]) for r in rows] == [
        ("2026-07-01T08:00:00Z", "desk", True),
        ("2026-07-01T12:00:00Z", "desk", False),
        ("2026-07-01T12:00:00Z", "mobile", True),
        ("2026-07-01T16:00:00Z", "mobile", False),
    ]
    assert rows[0]["local"] == "2026-07-01T09:00:00+01:00"
    assert {
        "at",
        "local",
        "agent",
        "account",
        "user_id",
        "device",
        "device_id",
        "available",
        "shift",
        "override",
    } <= rows[0].keys()


def test_plan_refuses_an_invalid_roster(tmp_path: Path) -> None:
    roster = tmp_path / "bad.yaml"
    roster.write_text(
        roster_text([{"name": "x", "start": "0 25 * * *", "duration": "1h", "members": ["ravi"]}])
    )
    done = run("plan", "--roster", str(roster))
    assert done.returncode == 1
    assert (
        f"{roster}:" in done.stderr and 'shifts[0].start: invalid cron "0 25 * * *"' in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--from", "tomorrow"], '"tomorrow" is not a date-time'),
        (["plan", "--hours", "-1"], "--hours"),
        (["plan", "--roster", "/nonexistent/roster.yaml"], "cannot read roster"),
        (["plna"], "No such command 'plna'. Did you mean 'plan'?"),
        (["plan", "--hours", "nan"], "must be a number of hours"),
        (["plan", "--from", "9999-12-31T20:00"], "from 1971 to 9000"),
        (["plan", "--from", "0001-01-01T00:00"], "from 1971 to 9000"),
    ],
)
def test_mistakes_are_one_line(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
