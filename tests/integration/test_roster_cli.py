"""The roster in the database from the command line: import, export, diff, versions,
rollback and overrides, run as a user runs them (from the repository), on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shiftswitch.clock import FixedClock
from shiftswitch.roster.loader import parse_roster
from tests import EXAMPLE_ROSTER as EXAMPLE
from tests import ROOT
from tests.commands import Ran, shiftswitch

# The morning shift every day, and at weekends on the same device as the weekend shift.
DAILY = (
    EXAMPLE.read_text()
    .replace('"0 9 * * mon-fri"', '"0 9 * * *"')
    .replace('["asha:mobile"]', '["asha:desk"]')
)

Cli = Callable[..., Ran]


@pytest.fixture
def clock() -> FixedClock:
    """The commands' time: now, moved on only by the test."""
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def cli(database_url: str, clock: FixedClock) -> Cli:
    """``shiftswitch ARGS`` on this test's database (more variables as keywords)."""

    def call(*args: str, **env: str) -> Ran:
        environment = {**os.environ, "DATABASE_URL": database_url, **env}
        return shiftswitch(*args, env=environment, cwd=ROOT, clock=clock)

    return call


def _versions(cli: Cli) -> list[dict[str, object]]:
    done = cli("roster", "versions", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _plain(text: str) -> object:
    return dataclasses.replace(parse_roster(text), warnings=())


def test_import_export_import_round_trip(cli: Cli, tmp_path: Path) -> None:
    done = cli("roster", "import", str(EXAMPLE), "--by", "alice")
    assert done.returncode == 0, done.stderr
    assert "stored roster version 1" in done.stdout and "first roster" in done.stdout
    exported = cli("roster", "export").stdout
    assert _plain(exported) == _plain(EXAMPLE.read_text())
    again = tmp_path / "exported.yaml"
    again.write_text(exported)
    done = cli("roster", "import", str(again))
    assert done.returncode == 0 and "unchanged" in done.stdout
    assert cli("roster", "export").stdout == exported
    (v,) = _versions(cli)
    assert v["by"] == "alice" and v["stored"] is True


def test_an_invalid_import_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    assert cli("roster", "import", str(EXAMPLE)).returncode == 0
    before = cli("roster", "export").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace('"0 9 * * mon-fri"', '"0 25 * * *"'))
    done = cli("roster", "import", str(bad))
    assert done.returncode == 1
    assert f"{bad}:" in done.stderr and 'shifts[0].start: invalid cron "0 25 * * *"' in done.stderr
    assert "Traceback" not in done.stderr
    assert cli("roster", "export").stdout == before
    assert len(_versions(cli)) == 1


def test_diff_shows_names_and_the_transitions_of_the_next_day(cli: Cli, tmp_path: Path) -> None:
    daily = tmp_path / "daily.yaml"
    daily.write_text(DAILY)
    assert cli("roster", "import", str(daily)).returncode == 0
    later = tmp_path / "later.yaml"
    later.write_text(DAILY.replace('"0 9 * * *"', '"0 10 * * *"'))
    done = cli("roster", "diff", str(later))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "against the stored roster (version 1): shifts ~1 (weekday-morning)" in out
    assert "~ shift weekday-morning" in out
    assert "transitions in the next 24 h: " in out
    assert any(line.startswith("+") and "10:00 Asia/Kolkata" in line for line in out.splitlines())
    assert any(line.startswith("-") and "09:00 Asia/Kolkata" in line for line in out.splitlines())
    assert len(_versions(cli)) == 1  # a diff changes nothing


def test_versions_and_rollback(cli: Cli, tmp_path: Path) -> None:
    daily = tmp_path / "daily.yaml"
    daily.write_text(DAILY)
    assert cli("roster", "import", str(EXAMPLE)).returncode == 0
    first = cli("roster", "export").stdout
    assert cli("roster", "import", str(daily), "--by", "bob").returncode == 0
    done = cli("roster", "rollback", "1", "--by", "carol")
    assert done.returncode == 0, done.stderr
    assert "stored roster version 3 from version 1" in done.stdout
    assert cli("roster", "export").stdout == first
    versions = _versions(cli)
    assert [(v["number"], v["by"], v["source"]) for v in versions][1:] == [
        (2, "bob", f"import {daily}"),
        (3, "carol", "rollback to 1"),
    ]
    table = cli("roster", "versions").stdout
    assert table.splitlines()[-1].startswith("*  3")
    missing = cli("roster", "rollback", "9")
    assert missing.returncode == 1 and "no roster version 9: versions are 1 to 3" in missing.stderr


def test_override_add_list_remove(cli: Cli, clock: FixedClock) -> None:
    assert cli("roster", "import", str(EXAMPLE)).returncode == 0
    now = clock.now()
    day = (now + timedelta(days=40)).date().isoformat()
    done = cli(
        "override", "add", "asha", "--device", "mobile", "--from", f"{day}T09:00", "--to",
        f"{day}T12:00", "--by", "dana", "--reason", "field visit",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stored roster version 2 from override add: overrides +1" in done.stdout
    assert done.stdout.splitlines()[-1].endswith(f"{day}T12:00+05:30 (field visit)")
    future = int(done.stdout.splitlines()[-1].split()[1].rstrip(":"))
    # an overlapping one is refused with its reason; nothing changes
    done = cli("override", "add", "asha", "--off", "--from", f"{day}T11:00", "--to", f"{day}T13:00")
    assert done.returncode == 1
    assert done.stderr == (
        f'shiftswitch: error: the new override: overlaps override {future} for agent "asha" from '
        f"{day}T11:00:00+05:30; an agent's overrides must not overlap; 'shiftswitch override "
        "list' shows them\n"
    )
    done = cli("override", "add", "asha", "--device", "tablet", "--from", day, "--to", day)
    assert done.returncode == 1
    assert 'unknown device "tablet" of agent "asha"' in done.stderr
    assert len(_versions(cli)) == 2
    listed = json.loads(cli("override", "list", "--json").stdout)
    assert any(o["id"] == future and o["state"] == "ahead" for o in listed)
    assert [o["reason"] for o in listed if o["id"] == future] == ["field visit"]
    long = cli(
        "override", "add", "asha", "--off", "--from", day, "--to", day, "--reason", "x" * 201
    )
    assert long.returncode != 0 and "reason: one line of at most 200 characters" in long.stderr
    # one in force now is cut at now, and stays in the history
    soon = (now + timedelta(hours=2)).replace(microsecond=0).isoformat()
    done = cli("override", "add", "ravi", "--off", "--from", "now", "--to", soon)
    assert done.returncode == 0, done.stderr
    current = int(done.stdout.splitlines()[-1].split()[1].rstrip(":"))
    clock.advance(timedelta(seconds=2))  # "now" is to the second: it has started
    done = cli("override", "remove", str(current))
    assert done.returncode == 0, done.stderr
    assert "was in force: cut at now" in done.stdout
    done = cli("override", "remove", str(future))
    assert done.returncode == 0 and "removed" in done.stdout
    ahead = json.loads(cli("override", "list", "--json").stdout)
    assert {o["id"] for o in ahead}.isdisjoint({future, current})
    everything = json.loads(cli("override", "list", "--all", "--json").stdout)
    assert any(o["agent"] == "ravi" and o["off"] and o["state"] == "over" for o in everything)
    assert len(_versions(cli)) == 5
    done = cli("override", "remove", "999")
    assert done.returncode == 1 and "no override 999" in done.stderr


def test_without_an_import_the_database_commands_say_what_to_do(cli: Cli) -> None:
    done = cli("roster", "export")
    assert done.returncode == 1
    assert "no roster in the database; store one with 'shiftswitch roster import FILE'" in (
        done.stderr
    )
    done = cli("plan", SHIFTSWITCH_ROSTER_SOURCE="db")
    assert done.returncode == 1 and "roster import" in done.stderr


def test_override_ids_are_never_given_again_and_name_what_they_cause(
    cli: Cli, clock: FixedClock
) -> None:
    assert cli("roster", "import", str(EXAMPLE)).returncode == 0
    day = (clock.now() + timedelta(days=40)).date().isoformat()

    def add(device: str) -> int:
        done = cli("override", "add", "asha", "--device", device, "--from", f"{day}T09:00",
                   "--to", f"{day}T12:00")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return int(done.stdout.splitlines()[-1].split()[1].rstrip(":"))

    first = add("mobile")  # the newest row: SQLite would give its id again without AUTOINCREMENT
    assert cli("override", "remove", str(first)).returncode == 0
    second = add("desk")
    assert second > first
    plan = cli("plan", "--from", f"{day}T08:00", "--hours", "6", SHIFTSWITCH_ROSTER_SOURCE="db")
    assert plan.returncode == 0, plan.stderr
    assert f"asha   desk    ON     override {second}" in plan.stdout
    assert plan.stdout.rstrip().endswith("(roster (database))")
