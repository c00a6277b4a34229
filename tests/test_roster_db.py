"""The scheduler on the roster in the database, holds and pauses: a real worker process, the
sandbox and Redis; the scheduler on the test clock. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from shiftswitch.cli import cli
from shiftswitch.cli.context import Context
from shiftswitch.settings import Settings
from tests.pipeline import Pipeline, pipeline, roster_yaml
from tests.rosters import utc
from tests.test_pipeline import ASHA, HANDOFF_AGENTS, HANDOFF_SHIFTS, RAVI, at

pytestmark = pytest.mark.integration

DESK_AM_ONLY = [HANDOFF_SHIFTS[0]]


@pytest.fixture
def db_roster(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    with pipeline(
        tmp_path,
        database_url,
        [ASHA, RAVI],
        lambda url: roster_yaml(url, HANDOFF_AGENTS, HANDOFF_SHIFTS),
    ) as p:
        p.import_roster()
        yield p


def _cli(p: Pipeline, *args: str) -> Result:
    """A command run in this process on the pipeline's clock (the scheduler's), as a user
    would run it at that moment."""
    context = Context(Settings.from_env(p.env), p.clock)
    return CliRunner().invoke(cli, list(args), obj=context, env=p.env)


def _run_before_nine(p: Pipeline) -> None:
    """A worker, and the scheduler on the stored roster started just before 09:00, settled."""
    p.start_worker()
    p.start_scheduler(utc(at("08:59:58")), source="db")
    p.settle()


def _sent(p: Pipeline) -> list[tuple[str, bool]]:
    return [(r["device_id"], r["body"]["available"]) for r in p.puts() if r["status"] == 200]


def test_an_override_added_while_running_switches_at_its_start_and_a_removed_shift_stops(
    db_roster: Pipeline,
) -> None:
    p = db_roster
    _run_before_nine(p)
    p.tick_at(utc(at("09:00:00")))
    p.settle()
    p.control("DELETE", "log")
    done = p.cli(
        "override", "add", "asha", "--device", "mobile",
        "--from", f"{at('10:00:00')}", "--to", f"{at('11:00:00')}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    p.tick_at(utc(at("09:59:59")))
    assert p.puts() == []  # picked up, not applied before its start
    p.tick_at(utc(at("10:00:00")))
    p.settle()
    assert _sent(p) == [("100280", False), ("100290", True)]  # desk OFF first, then mobile ON
    p.tick_at(utc(at("11:00:00")))
    p.settle()
    assert _sent(p)[2:] == [("100290", False), ("100280", True)]
    # the afternoon shift is removed from the stored roster: it no longer switches anything
    p.control("DELETE", "log")
    p.import_roster(roster_yaml(p.sandbox.url, HANDOFF_AGENTS, DESK_AM_ONLY))
    p.tick_at(utc(at("13:00:00")))
    p.settle()
    assert sorted(_sent(p)) == [("100280", False), ("100281", False)]  # desk-am ends; no mobile


def test_queued_actions_a_new_version_no_longer_wants_are_superseded_not_sent(
    db_roster: Pipeline,
) -> None:
    p = db_roster
    _run_before_nine(p)
    p.stop_workers()  # the boundary's actions wait in Redis
    p.tick_at(utc(at("09:00:00")))
    assert {a.status for a in p.actions() if a.source == "schedule"} == {"queued"}
    p.import_roster(roster_yaml(p.sandbox.url, HANDOFF_AGENTS, HANDOFF_SHIFTS[1:]))
    p.tick_at(utc(at("09:00:01")))
    scheduled = [a for a in p.actions() if a.source == "schedule"]
    assert {a.status for a in scheduled} == {"superseded"}
    p.control("DELETE", "log")
    p.workers.clear()
    p.start_worker()
    time.sleep(2)
    p.settle()
    assert p.puts() == []


def test_a_hold_survives_a_scheduler_restart_and_ends_at_its_time(db_roster: Pipeline) -> None:
    p = db_roster
    _run_before_nine(p)
    p.tick_at(utc(at("09:00:00")))
    p.settle()
    done = _cli(p, "device", "off", "ravi", "--until", at("10:00:00"), "--wait")
    assert done.exit_code == 0, done.output
    assert "held until 2026-11-30 10:00 UTC" in done.output
    p.control("DELETE", "log")
    p.tick_at(utc(at("09:10:00")))
    p.start_scheduler(utc(at("09:20:00")), source="db")  # a restart: it reconciles
    p.tick_at(utc(at("09:59:00")))
    status = _cli(p, "status").output
    assert "ravi" in status and "until 2026-11-30T10:00:00Z" in status
    time.sleep(1)
    p.settle()
    assert p.puts() == []  # the hold was kept
    p.tick_at(utc(at("10:00:00")))
    p.settle()
    assert _sent(p) == [("100281", True)]  # the roster again: ravi's desk-am shift


def test_pause_records_but_does_not_send_and_resume_applies_the_present(
    db_roster: Pipeline,
) -> None:
    p = db_roster
    _run_before_nine(p)
    p.control("DELETE", "log")
    done = _cli(p, "pause")
    assert done.exit_code == 0 and "paused every account" in done.output
    p.tick_at(utc(at("09:00:00")))
    time.sleep(1.5)
    recorded = [a for a in p.actions() if a.source == "schedule"]
    assert len(recorded) == 2 and {a.status for a in recorded} == {"pending"}
    assert p.puts() == []
    assert "PAUSED: every account" in _cli(p, "status").output
    done = _cli(p, "device", "on", "asha", "mobile")
    assert done.exit_code == 0 and "recorded, not sent: sending is paused" in done.output
    p.clock.advance(timedelta(seconds=1))
    done = _cli(p, "resume")
    assert done.exit_code == 0, done.output
    assert "3 actions recorded while paused superseded" in done.output
    p.tick_at(utc(at("09:00:05")))
    p.settle()
    assert sorted(_sent(p)) == [("100280", True), ("100281", True)]  # the present, once


def test_a_held_device_is_no_drift_to_a_remote_reconcile(db_roster: Pipeline) -> None:
    p = db_roster
    _run_before_nine(p)
    p.tick_at(utc(at("09:00:00")))
    p.settle()  # desk-am: asha's and ravi's desks ON
    done = _cli(p, "device", "off", "ravi", "--until", at("10:00:00"), "--wait")
    assert done.exit_code == 0, done.output
    p.control("DELETE", "log")
    p.clock.set(utc(at("09:20:00")))
    remote = _cli(p, "reconcile", "--remote")
    assert remote.exit_code == 0, remote.output
    assert "remote: 3 devices read from Exotel, 0 not as wanted, 0 actions enqueued" in (
        remote.output
    )  # ravi's desk is OFF as held, not ON as the roster has it
    time.sleep(1)
    p.settle()
    assert p.puts() == []
    # the roster's state is drift again once the hold is over (no worker: the ON waits)
    p.stop_workers()
    p.clock.set(utc(at("10:00:01")))
    after = _cli(p, "reconcile", "--remote")
    assert after.output.splitlines() == [
        "reconcile: 1 action enqueued",
        "remote: 3 devices read from Exotel, 1 not as wanted, 0 actions enqueued",
        "  ravi desk: OFF, wanted ON; set by an action under way",
    ]
    p.workers.clear()
    p.start_worker()
    p.settle()
    assert _sent(p) == [("100281", True)]


def test_a_device_the_roster_stops_naming_while_on_is_left_alone_with_a_warning(
    db_roster: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    p = db_roster
    _run_before_nine(p)
    p.tick_at(utc(at("09:00:00")))
    p.settle()  # desk-am: asha's and ravi's desks ON
    p.control("DELETE", "log")
    # ravi leaves: gone from the agents and from the shift
    shifts = [{**HANDOFF_SHIFTS[0], "members": ["asha:desk"]}, HANDOFF_SHIFTS[1]]
    leaving = p.tmp / "leaving.yaml"
    leaving.write_text(roster_yaml(p.sandbox.url, {"asha": HANDOFF_AGENTS["asha"]}, shifts))
    warning = (
        "warning: ravi desk is ON (Exotel confirmed it {}Z) and the roster no longer names it, "
        "so shiftswitch will not turn it OFF; if no one should take its calls: shiftswitch "
        "device off --user u-101 --device 100281 --account main"
    )
    for command in ("diff", "import"):
        done = p.cli("roster", command, str(leaving))
        assert done.returncode == 0, done.stderr
        before, after = warning.split("{}")
        assert before in done.stderr and after in done.stderr
    with caplog.at_level(logging.WARNING, logger="shiftswitch.scheduler"):
        p.tick_at(utc(at("09:10:00")))  # the new version in force, and a periodic reconcile
    assert "unnamed_devices_on devices='ravi desk' note=\"the roster no longer names" in caplog.text
    p.settle()
    assert p.puts() == []  # a device the roster does not name is never touched
    off = _cli(p, "device", "off", "--user", "u-101", "--device", "100281", "--account", "main")
    assert off.exit_code == 0, off.output
    p.settle()
    assert _sent(p) == [("100281", False)]
    assert "warning" not in p.cli("roster", "diff", str(leaving)).stderr  # OFF now
