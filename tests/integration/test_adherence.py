"""The adherence report on a scripted day, on PostgreSQL and SQLite: switches answered,
one unanswered and read back, a hold, a failed OFF; written by the worker's and the drift
check's own writes, then reported through the command line in every format, with the same
numbers in each."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shiftswitch import drift, timeline
from shiftswitch.actions import ActionStore
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.models import Action, CheckKind, DeviceState, Hold, Status
from shiftswitch.outcomes import OutcomeStore, attempt_row
from tests import ROOT
from tests.commands import Ran, shiftswitch

ROSTER = """\
version: 1
timezone: Asia/Kolkata
accounts:
  main: {sid: acme_corp, base_url: 'http://127.0.0.1:9', rate_limit: '100/s'}
agents:
  asha: {account: main, user_id: u-1, devices: {desk: d-1}}
  ravi: {account: main, user_id: u-2, devices: {desk: d-2}}
shifts:
  - {name: day, start: '0 9 * * *', duration: 8h, members: ['asha:desk', 'ravi:desk']}
"""
IST = timedelta(hours=5, minutes=30)
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
OK = Outcome(Kind.OK, 200, None, None, "r-ok", None, 0.1)
REFUSED = Outcome(Kind.FINAL, 403, "1003", "Device is unverified", "r-no", None, 0.1)


def ist(hhmm: str, seconds: int = 0) -> datetime:
    """A time of 1 December 2026 in India, in UTC."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 12, 1, h, m, seconds, tzinfo=UTC) - IST


Cli = Callable[..., Ran]


@pytest.fixture
def cli(database_url: str) -> Cli:
    def call(*args: str, at: datetime = NOW) -> Ran:
        env = {**os.environ, "DATABASE_URL": database_url, "SHIFTSWITCH_ROSTER_SOURCE": "db"}
        return shiftswitch(*args, env=env, cwd=ROOT, clock=FixedClock(at))

    return call


class Day:
    """The day's writes, through the worker's and the drift check's own code."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.outcomes = OutcomeStore(engine)
        self.ids = count(1)

    def action(self, agent: str, on: bool, due: datetime) -> Action:
        n = next(self.ids)
        uid, did = {"asha": ("u-1", "d-1"), "ravi": ("u-2", "d-2")}[agent]
        action = Action(
            key=f"k{n}", source="schedule", user_key=f"main/{uid}", account="main",
            sid="acme_corp", base_url="http://127.0.0.1:9", rate_limit="100/s", agent=agent,
            device="desk", user_id=uid, device_id=did, contact_uri="+91990000000" + did[-1],
            siblings=[], wants_on=on, kind="switch", shift="day", due_at=due, created_at=due,
            status=Status.RUNNING, attempts=1,
        )  # fmt: skip
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(action)
            session.commit()
            session.expunge(action)
        return action

    def switched(self, agent: str, on: bool, due: datetime, at: datetime) -> None:
        action = self.action(agent, on, due)
        request = f"PUT available={'true' if on else 'false'}"
        self.outcomes.succeed(action, OK, attempt_row(action, 1, request, at, OK), at)

    def refused(self, agent: str, on: bool, due: datetime, at: datetime) -> None:
        action = self.action(agent, on, due)
        row = attempt_row(action, 1, "PUT available=false", at, REFUSED)
        self.outcomes.finish(action, Status.FAILED, "Exotel refused: 403 1003 Device is "
                             "unverified", at, REFUSED, row)  # fmt: skip

    def unanswered(self, agent: str, on: bool, due: datetime, at: datetime) -> None:
        action = self.action(agent, on, due)
        self.outcomes.expect_read_back(action, at, at + timedelta(minutes=2), "read timeout")

    def read(self, agent: str, available: bool, at: datetime) -> None:
        uid, did = {"asha": ("u-1", "d-1"), "ravi": ("u-2", "d-2")}[agent]
        state = DeviceState(
            account="main", user_id=uid, device_id=did, agent=agent, device="desk",
            contact_uri=None, available=available, confirmed_at=at,
        )  # fmt: skip
        found = drift.Found(states=[state], devices=1)
        drift.record(ActionStore(self.engine), found, CheckKind.DRIFT, at)


def script(engine: Engine) -> None:
    day = Day(engine)
    # asha: ON 30 s late; held OFF by maya 12:00 to 12:30; OFF on time.
    day.switched("asha", True, ist("09:00"), ist("09:00", 30))
    with Session(engine) as session:
        hold = Hold(account="main", agent="asha", device="desk", available=False,
                    starts_at=ist("12:00"), until=ist("12:30"), created_by="maya")  # fmt: skip
        session.add(hold)
        session.commit()
    day.switched("asha", False, ist("12:00"), ist("12:00"))
    day.switched("asha", True, ist("12:30"), ist("12:30"))
    day.read("asha", True, ist("14:00"))  # a drift check finds it as known: no change
    day.switched("asha", False, ist("17:00"), ist("17:00"))
    # ravi: the ON unanswered, read back ON 2 min later; the OFF refused, then sent at 18:00.
    day.unanswered("ravi", True, ist("09:00"), ist("09:00"))
    day.read("ravi", True, ist("09:02"))
    day.refused("ravi", False, ist("17:00"), ist("17:00", 5))
    day.switched("ravi", False, ist("18:00"), ist("18:00"))


EXPECTED = {
    "asha": {"planned_s": 28800, "confirmed_s": 28800 - 30 - 1800, "late_starts": 0,
             "late_start_s": 30, "early_off_s": 0, "unplanned_on_s": 0, "unknown_s": 0},
    "ravi": {"planned_s": 28800, "confirmed_s": 28800 - 120, "late_starts": 1,
             "late_start_s": 120, "early_off_s": 0, "unplanned_on_s": 3600, "unknown_s": 120},
}  # fmt: skip


def test_a_scripted_day_gives_exact_figures_in_every_format(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text(ROSTER)
    imported = cli("roster", "import", str(roster), "--by", "ops", at=ist("08:00") - IST)
    assert imported.returncode == 0, imported.stderr
    engine = make_engine(database_url)
    try:
        script(engine)
    finally:
        engine.dispose()
    # Today's roster moves the shift to 10:00: the report plans 1 December on the version then.
    roster.write_text(ROSTER.replace("'0 9 * * *'", "'0 10 * * *'"))
    assert cli("roster", "import", str(roster), "--by", "ops", at=NOW).returncode == 0
    ran = cli("report", "adherence", "--from", "2026-12-01", "--to", "2026-12-01",
              "--format", "json")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    rows = {r["agent"]: r for r in json.loads(ran.stdout)}
    for agent, figures in EXPECTED.items():
        assert {k: rows[agent][k] for k in figures} == figures, agent
        assert rows[agent]["zone"] == "Asia/Kolkata"
    assert rows["asha"]["adherence"] == round((28800 - 1830) / 28800, 4)
    assert rows["asha"]["reasons"] == ["held OFF by maya 12:00 to 12:30"]
    assert any("OFF failed at 17:00" in r and "1003" in r for r in rows["ravi"]["reasons"])
    assert any("state unknown for 2 min" in r for r in rows["ravi"]["reasons"])

    ran = cli("report", "adherence", "--from", "2026-12-01", "--to", "2026-12-01",
              "--format", "csv")  # fmt: skip
    from_csv = {r["agent"]: r for r in csv.DictReader(io.StringIO(ran.stdout))}
    for agent, figures in EXPECTED.items():
        assert {k: int(from_csv[agent][k]) for k in figures} == figures

    out = tmp_path / "adherence.xlsx"
    ran = cli("report", "adherence", "--from", "2026-12-01", "--to", "2026-12-01",
              "--by", "day", "--format", "xlsx", "--output", str(out))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    sheet = load_workbook(out)["Adherence"]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "C2"
    from_xlsx = {row[0]: dict(zip(header, row, strict=True)) for row in
                 sheet.iter_rows(min_row=2, values_only=True)}  # fmt: skip
    for agent, figures in EXPECTED.items():
        assert {k: from_xlsx[agent][k] for k in figures} == figures
        assert from_xlsx[agent]["day"].date().isoformat() == "2026-12-01"
        assert from_xlsx[agent]["adherence"] == rows[agent]["adherence"]

    table = cli("report", "adherence", "--from", "2026-12-01", "--to", "2026-12-01")
    assert "Asia/Kolkata" in table.stdout and "a shift counts on the local day it starts" in (
        table.stdout
    )
    assert "93.7%" in table.stdout  # asha: 26,970 of 28,800 s


def test_the_report_refuses_bad_options_in_one_line(cli: Cli, tmp_path: Path) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text(ROSTER)
    assert cli("roster", "import", str(roster), "--by", "ops").returncode == 0
    for args, says in [
        (("--from", "1 Dec"), "is not a day: give YYYY-MM-DD"),
        (("--from", "2026-12-05", "--to", "2026-12-01"), "is before --from"),
        (("--format", "xlsx"), "give --output FILE"),
        (("--agent", "nobody"), "no agent 'nobody'"),
    ]:
        ran = cli("report", "adherence", *args)
        assert ran.returncode == 2 and says in ran.stderr, (args, ran.stderr)
        assert "Traceback" not in ran.stderr


def test_the_timeline_keeps_one_open_interval_and_ignores_an_older_read(database_url: str) -> None:
    engine = make_engine(database_url)
    t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)

    def mark(state: str, minutes: int) -> None:
        at = t0 + timedelta(minutes=minutes)
        with engine.begin() as conn:
            timeline.mark(engine, conn, [timeline.Mark("main", "u-1", "d-1", "asha", "desk",
                                                       state, at)])  # fmt: skip

    try:
        mark("on", 0)
        mark("on", 5)  # the same state again: nothing new
        mark("off", -10)  # a read sent before the ON was answered: older, ignored
        mark("unknown", 60)
        mark("off", 62)
        with Session(engine) as session:
            got = [(s[2], _at(s[3]), _at(s[4])) for s in timeline.spans(
                session, t0 - timedelta(hours=1), t0 + timedelta(hours=2),
                states=("on", "off", "unknown"))]  # fmt: skip
        assert got == [
            ("on", t0, t0 + timedelta(minutes=60)),
            ("unknown", t0 + timedelta(minutes=60), t0 + timedelta(minutes=62)),
            ("off", t0 + timedelta(minutes=62), None),
        ]
    finally:
        engine.dispose()


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(round(seconds, 3), UTC)
