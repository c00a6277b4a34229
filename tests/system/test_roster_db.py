"""The scheduler on the roster in the database, holds and pauses: a real worker process, the
sandbox and Redis; the scheduler on the test clock; PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.commands import Ran
from tests.pipeline import HANDOFF_AGENTS, HANDOFF_SHIFTS, MONDAY, Pipeline, at, roster_yaml

DESK_AM_ONLY = [HANDOFF_SHIFTS[0]]


@pytest.fixture
def db_roster(handoff_pipeline: Pipeline) -> Pipeline:
    handoff_pipeline.import_roster()
    return handoff_pipeline


@pytest.fixture
def db_roster_own_workers(handoff_own_workers: Pipeline) -> Pipeline:
    """For a test that stops its worker."""
    handoff_own_workers.import_roster()
    return handoff_own_workers


def _cli(p: Pipeline, *args: str) -> Ran:
    """A command on the pipeline's clock (the scheduler's), as a user would run it at that
    moment."""
    return p.cli(*args, on_test_clock=True)


def _run_before_nine(p: Pipeline) -> None:
    """A worker, and the scheduler on the stored roster started just before 09:00, settled."""
    p.start_worker()
    p.start_scheduler(at("08:59:58"), source="db")
    p.settle()


def _sent(p: Pipeline) -> list[tuple[str, bool]]:
    return [(r["device_id"], r["body"]["available"]) for r in p.puts() if r["status"] == 200]


def test_an_override_added_while_running_switches_at_its_start_and_a_removed_shift_stops(
    db_roster: Pipeline,
) -> None:
    p = db_roster
    _run_before_nine(p)
    p.tick_at(at("09:00:00"))
    p.settle()
    p.control("DELETE", "log")
    done = _cli(
        p, "override", "add", "asha", "--device", "mobile",
        "--from", at("10:00:00").isoformat(), "--to", at("11:00:00").isoformat(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    p.tick_at(at("09:59:59"))
    p.drain()
    assert p.puts() == []  # picked up, not applied before its start
    p.tick_at(at("10:00:00"))
    p.settle()
    assert _sent(p) == [("100280", False), ("100290", True)]  # desk OFF first, then mobile ON
    p.tick_at(at("11:00:00"))
    p.settle()
    assert _sent(p)[2:] == [("100290", False), ("100280", True)]
    # the afternoon shift is removed from the stored roster: it no longer switches anything
    p.control("DELETE", "log")
    p.import_roster(roster_yaml(p.sandbox.url, HANDOFF_AGENTS, DESK_AM_ONLY))
    p.tick_at(at("13:00:00"))
    p.settle()
    assert sorted(_sent(p)) == [("100280", False), ("100281", False)]  # desk-am ends; no mobile


def test_queued_actions_a_new_version_no_longer_wants_are_superseded_not_sent(
    db_roster_own_workers: Pipeline,
) -> None:
    p = db_roster_own_workers
    _run_before_nine(p)
    p.stop_workers()  # the boundary's actions wait in Redis
    p.tick_at(at("09:00:00"))
    assert {a.status for a in p.actions() if a.source == "schedule"} == {"queued"}
    p.import_roster(roster_yaml(p.sandbox.url, HANDOFF_AGENTS, HANDOFF_SHIFTS[1:]))
    p.tick_at(at("09:00:01"))
    scheduled = [a for a in p.actions() if a.source == "schedule"]
    assert {a.status for a in scheduled} == {"superseded"}
    p.control("DELETE", "log")
    p.workers.clear()
    p.start_worker()
    p.drain()  # the worker has taken and run the waiting messages
    assert p.puts() == []


def test_a_hold_survives_a_scheduler_restart_and_ends_at_its_time(db_roster: Pipeline) -> None:
    p = db_roster
    _run_before_nine(p)
    p.tick_at(at("09:00:00"))
    p.settle()
    done = _cli(p, "device", "off", "ravi", "--until", at("10:00:00").isoformat(), "--wait")
    assert done.returncode == 0, done.stdout
    assert f"held until {MONDAY} 10:00 UTC" in done.stdout
    p.control("DELETE", "log")
    p.tick_at(at("09:10:00"))
    p.start_scheduler(at("09:20:00"), source="db")  # a restart: it reconciles
    p.tick_at(at("09:59:00"))
    status = _cli(p, "status").stdout
    assert "ravi" in status and f"until {MONDAY}T10:00:00Z" in status
    p.drain()
    p.settle()
    assert p.puts() == []  # the hold was kept
    p.tick_at(at("10:00:00"))
    p.settle()
    assert _sent(p) == [("100281", True)]  # the roster again: ravi's desk-am shift


def test_pause_records_but_does_not_send_and_resume_applies_the_present(
    db_roster: Pipeline,
) -> None:
    p = db_roster
    _run_before_nine(p)
    p.control("DELETE", "log")
    done = _cli(p, "pause")
    assert done.returncode == 0 and "paused every account" in done.stdout
    p.tick_at(at("09:00:00"))
    p.drain()  # had anything been sent, it would have run
    recorded = [a for a in p.actions() if a.source == "schedule"]
    assert len(recorded) == 2 and {a.status for a in recorded} == {"pending"}
    assert p.puts() == []
    assert "PAUSED: every account" in _cli(p, "status").stdout
    done = _cli(p, "device", "on", "asha", "mobile")
    assert done.returncode == 0 and "recorded, not sent: sending is paused" in done.stdout
    p.clock.advance(timedelta(seconds=1))
    done = _cli(p, "resume")
    assert done.returncode == 0, done.stdout
    assert "3 actions recorded while paused superseded" in done.stdout
    p.tick_at(at("09:00:05"))
    p.settle()
    assert sorted(_sent(p)) == [("100280", True), ("100281", True)]  # the present, once


def test_a_held_device_is_no_drift_to_a_remote_reconcile(db_roster_own_workers: Pipeline) -> None:
    p = db_roster_own_workers
    _run_before_nine(p)
    p.tick_at(at("09:00:00"))
    p.settle()  # desk-am: asha's and ravi's desks ON
    done = _cli(p, "device", "off", "ravi", "--until", at("10:00:00").isoformat(), "--wait")
    assert done.returncode == 0, done.stdout
    p.control("DELETE", "log")
    p.clock.set(at("09:20:00"))
    remote = _cli(p, "reconcile", "--remote")
    assert remote.returncode == 0, remote.stdout
    assert "remote: 3 devices read from Exotel, 0 not as wanted, 0 actions enqueued" in (
        remote.stdout
    )  # ravi's desk is OFF as held, not ON as the roster has it
    p.drain()
    p.settle()
    assert p.puts() == []
    # the roster's state is drift again once the hold is over (no worker: the ON waits)
    p.stop_workers()
    p.clock.set(at("10:00:01"))
    after = _cli(p, "reconcile", "--remote")
    assert after.stdout.splitlines() == [
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
    p.tick_at(at("09:00:00"))
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
        p.tick_at(at("09:10:00"))  # the new version in force, and a periodic reconcile
    assert "unnamed_devices_on devices='ravi desk' note=\"the roster no longer names" in caplog.text
    p.drain()
    p.settle()
    assert p.puts() == []  # a device the roster does not name is never touched
    off = _cli(p, "device", "off", "--user", "u-101", "--device", "100281", "--account", "main")
    assert off.returncode == 0, off.stdout
    p.settle()
    assert _sent(p) == [("100281", False)]
    assert "warning" not in p.cli("roster", "diff", str(leaving)).stderr  # OFF now
