"""``roster import-shifts`` run as a user runs it: into a roster file and into the stored roster
(SQLite and PostgreSQL), the window replaced, a version recorded and rolled back, a dry run and
every refused import changing nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shiftswitch.clock import FixedClock
from shiftswitch.roster.loader import parse_roster
from tests import ROOT
from tests.commands import Ran, shiftswitch

ROSTER = """\
version: 1
timezone: Asia/Kolkata
accounts:
  main: {sid: acme, base_url: "http://127.0.0.1:8090"}
agents:
  asha: {account: main, user_id: u-100, devices: {desk: "100280"}}
  ravi: {account: main, user_id: u-101, devices: {desk: "100281", mobile: "+919953125068"}}
# ravi's weekly pattern stays as it is
shifts:
  - {name: evening, start: "0 18 * * *", duration: 4h, members: ["ravi:mobile"]}
assignments:
  - {agent: asha, from: "2026-12-07T10:00", to: "2026-12-07T12:00"}
  - {agent: asha, from: "2026-12-20T10:00", to: "2026-12-20T12:00"}
"""
WEEK = """\
agent,start,end,activity
asha,2026-12-07T09:00,2026-12-07T13:00,Phone
asha,2026-12-07T13:00,2026-12-07T13:30,Lunch
asha,2026-12-07T13:30,2026-12-07T18:00,Phone
asha,2026-12-08T09:00,2026-12-08T18:00,Phone
"""
MAPPING = "on: [Phone]\noff: [Lunch]\nactivity: activity\n"

Cli = Callable[..., Ran]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 6, 12, tzinfo=UTC))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "roster.yaml").write_text(ROSTER)
    (tmp_path / "week.csv").write_text(WEEK)
    (tmp_path / "map.yaml").write_text(MAPPING)
    return tmp_path


@pytest.fixture
def cli(database_url: str, clock: FixedClock, files: Path) -> Cli:
    def call(*args: str) -> Ran:
        environment = {**os.environ, "DATABASE_URL": database_url}
        return shiftswitch(*args, env=environment, cwd=files, clock=clock)

    return call


@pytest.fixture
def file_cli(clock: FixedClock, files: Path) -> Cli:
    def call(*args: str) -> Ran:
        return shiftswitch(*args, env=dict(os.environ), cwd=files, clock=clock)

    return call


def _asha(text: str) -> list[tuple[str, str, bool]]:
    roster = parse_roster(text)
    return sorted(
        (a.start.astimezone(a.zone).strftime("%d %H:%M"), a.end.astimezone(a.zone).strftime(
            "%d %H:%M"), a.off)
        for a in roster.assignments
        if a.agent == "asha"
    )  # fmt: skip


IMPORTED = [
    ("07 09:00", "07 18:00", False),
    ("07 13:00", "07 13:30", True),
    ("08 09:00", "08 18:00", False),
    ("20 10:00", "20 12:00", False),  # after the file's span: kept
]


def test_into_a_roster_file_keeps_the_rest_of_it(file_cli: Cli, files: Path) -> None:
    done = file_cli("roster", "import-shifts", "week.csv", "--mapping", "map.yaml",
                    "--into", "roster.yaml")  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (files / "roster.yaml").read_text()
    assert "# ravi's weekly pattern stays as it is" in text  # comments kept
    assert _asha(text) == IMPORTED
    assert "asha   2      0        1" in done.stdout  # added, removed, changed
    assert "wrote roster.yaml" in done.stdout
    # The first switches it makes, from now on.
    assert "+  Mon 2026-12-07 09:00 Asia/Kolkata" in done.stdout


def test_a_dry_run_changes_nothing(file_cli: Cli, files: Path) -> None:
    done = file_cli("roster", "import-shifts", "week.csv", "--mapping", "map.yaml",
                    "--into", "roster.yaml", "--dry-run", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["dry_run"] is True and answer["rows"] == 4
    assert answer["window"] == {"from": "2026-12-07T03:30:00Z", "to": "2026-12-08T12:30:00Z"}
    assert answer["agents"] == [{"agent": "asha", "added": 2, "removed": 0, "changed": 1}]
    # The switches of its first day: asha's day with lunch, in place of 10:00 to 12:00.
    assert (answer["switches"]["added"], answer["switches"]["removed"]) == (4, 2)
    assert (files / "roster.yaml").read_text() == ROSTER


@pytest.mark.parametrize(
    ("csv", "says"),
    [
        pytest.param(WEEK + "asha,2026-12-09T09:00,2026-12-09T25:00,Phone\n",
                     "week.csv:6: column end: '2026-12-09T25:00' is not a date and time",
                     id="a bad row"),
        pytest.param(WEEK.replace("Lunch", "Nap"), "week.csv:3: column activity: unknown activity",
                     id="an unknown activity"),
        pytest.param(WEEK + "ravi,2026-12-07T17:00,2026-12-07T23:00,Phone\n",
                     "week.csv:6: column agent: agent 'ravi' has 2 devices", id="which device"),
    ],
)  # fmt: skip
def test_a_refused_import_changes_nothing(file_cli: Cli, files: Path, csv: str, says: str) -> None:
    (files / "week.csv").write_text(csv)
    done = file_cli("roster", "import-shifts", "week.csv", "--mapping", "map.yaml",
                    "--into", "roster.yaml")  # fmt: skip
    assert done.returncode == 1
    assert says in done.stderr
    assert "import refused" in done.stderr and "Traceback" not in done.stderr
    assert (files / "roster.yaml").read_text() == ROSTER


def test_an_import_that_makes_a_conflict_is_refused(file_cli: Cli, files: Path) -> None:
    # ravi on his desk from 17:00 overlaps his evening shift on his mobile (from 18:00).
    (files / "ravi.csv").write_text(
        "agent,device,start,end\nravi,desk,2026-12-07T17:00,2026-12-07T19:00\n"
    )
    done = file_cli("roster", "import-shifts", "ravi.csv", "--into", "roster.yaml")
    assert done.returncode == 1
    assert 'conflict: agent "ravi" would be ON on two devices at once' in done.stderr
    assert (files / "roster.yaml").read_text() == ROSTER


def test_into_the_stored_roster_a_version_and_its_rollback(cli: Cli, files: Path) -> None:
    assert cli("roster", "import", "roster.yaml").returncode == 0
    done = cli("roster", "import-shifts", "week.csv", "--mapping", "map.yaml", "--by", "wfm-bot")
    assert done.returncode == 0, done.stderr
    assert "stored roster version 2" in done.stdout
    assert _asha(cli("roster", "export").stdout) == IMPORTED
    versions = json.loads(cli("roster", "versions", "--json").stdout)
    assert versions[-1]["source"] == "import-shifts week.csv"
    assert versions[-1]["by"] == "wfm-bot"
    # Importing the same file again changes nothing.
    again = cli("roster", "import-shifts", "week.csv", "--mapping", "map.yaml")
    assert again.returncode == 0 and "unchanged" in again.stdout
    # Rolled back, the roster is as it was.
    assert cli("roster", "rollback", "1").returncode == 0
    assert _asha(cli("roster", "export").stdout) == [
        ("07 10:00", "07 12:00", False),
        ("20 10:00", "20 12:00", False),
    ]


def test_a_dry_run_into_the_stored_roster_records_nothing(cli: Cli) -> None:
    assert cli("roster", "import", "roster.yaml").returncode == 0
    done = cli("roster", "import-shifts", "week.csv", "--mapping", "map.yaml", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing changed" in done.stdout
    assert len(json.loads(cli("roster", "versions", "--json").stdout)) == 1


def test_without_a_stored_roster_it_says_what_to_do(cli: Cli) -> None:
    done = cli("roster", "import-shifts", "week.csv")
    assert done.returncode == 1
    assert "no roster in the database" in done.stderr


def test_the_shipped_samples_import_with_their_mappings(file_cli: Cli, files: Path) -> None:
    wfm = ROOT / "docs" / "wfm"
    one_device = ROSTER.replace(', mobile: "+919953125068"', "").replace("ravi:mobile", "ravi")
    (files / "roster.yaml").write_text(one_device)
    for sample, mapping in (
        ("nice-iex.txt", "nice-iex"),
        ("verint.csv", "verint"),
        ("genesys-cloud.csv", "genesys-cloud"),
    ):
        done = file_cli(
            "roster", "import-shifts", str(wfm / sample), "--mapping", mapping,
            "--into", "roster.yaml", "--dry-run", "--json",
        )  # fmt: skip
        assert done.returncode == 0, (sample, done.stderr)
        assert json.loads(done.stdout)["assignments"] >= 3


def test_calendar_key_prints_the_feeds_address_once(cli: Cli) -> None:
    done = cli("calendar", "key", "asha", "--by", "lead", "--roster", "roster.yaml")
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    assert address.startswith("/calendar/asha.ics?key=cal_")
    assert "shown this once" in done.stderr
    unknown = cli("calendar", "key", "nobody", "--roster", "roster.yaml")
    assert unknown.returncode == 2 and "unknown agent 'nobody'" in unknown.stderr
    assert cli("calendar", "revoke", "asha").stdout.strip() == "revoked asha's calendar key"
