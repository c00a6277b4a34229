"""Inputs that could take a process down, through the command line and a running scheduler: an
alias bomb or an over-large roster is refused in one line, at once; a scheduler keeps its last
good roster and goes on ticking; out-of-range options and settings are one line each."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shiftswitch.actions import ActionStore
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.roster.limits import MAX_BYTES, MAX_VALUES
from shiftswitch.roster.yamldoc import load
from shiftswitch.roster_tables import RosterVersion
from tests import EXAMPLE_ROSTER, ROOT
from tests.commands import Ran, shiftswitch
from tests.integration.test_scheduler import HANDOFF, MONDAY_0859, run_until, started
from tests.rosters import roster_text, utc
from tests.unit.test_input_limits import bomb

Cli = Callable[..., Ran]
BIG = 40 * 1024 * 1024  # bytes: over the limit


def sparse(path: Path, size: int = BIG) -> Path:
    """A file of ``size`` bytes (of NULs), written in no time."""
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


@pytest.fixture
def cli(database_url: str) -> Cli:
    clock = FixedClock(datetime(2026, 11, 30, tzinfo=UTC))

    def call(*args: str, **env: str) -> Ran:
        environment = {**os.environ, "DATABASE_URL": database_url, **env}
        return shiftswitch(*args, env=environment, cwd=ROOT, clock=clock)

    return call


def timed(run: Callable[[], Ran]) -> tuple[Ran, float]:
    started_at = time.perf_counter()
    ran = run()
    return ran, time.perf_counter() - started_at


def test_roster_validate_refuses_an_alias_bomb_in_one_line_at_once(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(bomb())
    ran, seconds = timed(lambda: shiftswitch("roster", "validate", str(path)))
    assert seconds < 5  # a generous bound: it took 31 s and 3.5 GB, then died
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        f"{path}:9: l6[0]: the alias *l5 stands for 1,111,111 values, which takes the document "
        f"past the limit of {MAX_VALUES:,} values (aliases of aliases multiply); write the "
        "values out, or use fewer aliases",
        f"{path}: 1 problem; roster refused",
    ]


def test_roster_validate_refuses_an_over_large_roster_before_reading_it(tmp_path: Path) -> None:
    path = sparse(tmp_path / "schedules.yaml")
    ran, seconds = timed(lambda: shiftswitch("roster", "validate", str(path)))
    assert seconds < 5
    assert ran.returncode == 1
    assert ran.stderr == (
        f"shiftswitch: error: {path}: the document is 40.0 MiB, over the limit of 32.0 MiB; "
        "is it the right file?\n"
    )


def test_a_roster_of_10000_agents_is_well_within_the_limits() -> None:
    gen = pytest.importorskip("benchmarks.gen_roster")
    text = gen.generate(10_000)
    doc = load(text)
    assert len(text.encode()) * 10 < MAX_BYTES  # about 1.2 MiB
    assert len(doc.lines) * 10 < MAX_VALUES  # fewer lines than values: keys share them
    agents = doc.root["agents"]  # type: ignore[index]
    assert isinstance(agents, dict) and len(agents) == 10_000


def test_out_of_range_options_are_one_line(cli: Cli, tmp_path: Path) -> None:
    assert cli("roster", "import", str(EXAMPLE_ROSTER)).returncode == 0
    for args, message in [
        (
            ("roster", "export", "--version", "99999999999999999999"),
            "Invalid value for '--version': 99999999999999999999 is not in the range "
            "1<=x<=2147483647.",
        ),
        (
            ("roster", "rollback", "99999999999999999999"),
            "Invalid value for 'N': 99999999999999999999 is not in the range 1<=x<=2147483647.",
        ),
        (
            (
                "override",
                "add",
                "ravi",
                "--off",
                "--from",
                "2027-02-01",
                "--to",
                "9999-12-31T23:59Z",
            ),
            'Invalid value for --to: "9999-12-31T23:59Z" is not a date or date-time from '
            "0001-01-03 to 9999-12-29 (UTC); write e.g. 2026-12-01T09:00, 2026-12-24 or now",
        ),
        (
            ("plan", "--hours", "999999999"),
            "Invalid value for '--hours': 999999999.0 is not in the range 0<x<=1488.",
        ),
        (
            ("history", "--limit", "999999999999"),
            "Invalid value for '--limit': 999999999999 is not in the range 1<=x<=100000.",
        ),
    ]:
        ran = cli(*args)
        assert ran.returncode == 2, (args, ran)
        assert ran.stderr.startswith(f"shiftswitch: error: {message}"), ran.stderr
        assert len(ran.stderr.splitlines()) == 1
    ran = cli(
        "device",
        "on",
        "asha",
        "desk",
        "--roster",
        str(EXAMPLE_ROSTER),
        "--until",
        "9999-12-31T23:59Z",
    )
    assert ran.returncode == 2
    assert "is not a date-time after now, before 9999-12-29" in ran.stderr
    assert len(ran.stderr.splitlines()) == 1


@pytest.mark.parametrize("raw", ["1e308", "inf", "nan", "9" * 5000])
def test_an_out_of_range_setting_is_one_line(raw: str) -> None:
    env = {**os.environ, "SHIFTSWITCH_HTTP_TIMEOUT": raw}
    ran = shiftswitch("roster", "validate", str(EXAMPLE_ROSTER), env=env)
    assert ran.returncode == 1
    (line,) = ran.stderr.splitlines()
    assert line.startswith("shiftswitch: error: SHIFTSWITCH_HTTP_TIMEOUT=")
    assert line.endswith("must be a number of seconds from 0.1 to 3600")
    assert len(line) < 200


# -- a running scheduler ------------------------------------------------------------------------


@pytest.fixture
def store(database_url: str) -> Iterator[ActionStore]:
    engine = make_engine(database_url)
    yield ActionStore(engine)
    engine.dispose()


@pytest.fixture
def roster_file(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(roster_text(HANDOFF))
    return path


def test_a_running_scheduler_refuses_a_bomb_and_an_over_large_file_and_keeps_its_roster(
    store: ActionStore, roster_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s, rec = started(roster_file, store)
    good = s.roster
    roster_file.write_text(bomb())
    with caplog.at_level(logging.ERROR, logger="shiftswitch.scheduler"):
        started_at = time.perf_counter()
        run_until(s, MONDAY_0859, utc("2026-11-30T09:00:05+00:00"), timedelta(seconds=1))
        assert time.perf_counter() - started_at < 30  # 67 ticks; the bomb was read once
    refused = [r.getMessage() for r in caplog.records if "roster_refused" in r.getMessage()]
    assert len(refused) == 1  # said once, not at every tick
    assert "l6[0]: the alias *l5 stands for 1,111,111 values" in refused[0]
    assert "last good roster stays in force" in refused[0]
    assert s.roster is good
    assert len(rec.flat()) == 2  # the 09:00 ONs of the good roster, sent all the same

    caplog.clear()
    sparse(roster_file)
    with caplog.at_level(logging.ERROR, logger="shiftswitch.scheduler"):
        run_until(
            s,
            utc("2026-11-30T09:00:06+00:00"),
            utc("2026-11-30T09:00:20+00:00"),
            timedelta(seconds=1),
        )
    refused = [r.getMessage() for r in caplog.records if "roster_refused" in r.getMessage()]
    assert len(refused) == 1
    assert "the document is 40.0 MiB, over the limit of 32.0 MiB" in refused[0]
    assert s.roster is good

    # It went on looking: a good edit is put in force at the next tick.
    roster_file.write_text(roster_text([dict(HANDOFF[0], members=["asha:desk"]), HANDOFF[1]]))
    report = s.tick(utc("2026-11-30T09:00:21+00:00"))
    assert report.reloaded and s.roster is not good
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RosterVersion)) == 2
