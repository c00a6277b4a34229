"""The scheduler reads Exotel before trusting its own records: first reads, read-backs, drift
checks, and one leading scheduler among several (README: How switching works).

The scheduler runs in the test on a fixed clock, its checker reading the sandbox over HTTP with
the real Exotel client (in the test's thread: ``run_pending``); what it would hand to the broker
is recorded. ``tests/system/test_closed_loop.py`` runs the same with real processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis
from sqlalchemy import delete, select

from scheduler.checks import Checker, Reader
from scheduler.loop import Scheduler
from shiftswitch.actions import ActionStore
from shiftswitch.clock import FixedClock
from shiftswitch.coordination import Leadership
from shiftswitch.db import make_engine
from shiftswitch.exotel import ExotelClient
from shiftswitch.holds import Controls
from shiftswitch.models import DeviceState, ReadBack, RemoteCheck
from shiftswitch.roster.model import Account
from shiftswitch.sandbox.seed import parse_seed
from shiftswitch.sandbox.server import Sandbox
from shiftswitch.settings import Credentials
from shiftswitch.sources.source import RosterFile
from tests.integration.test_scheduler import Recorder, confirm_all
from tests.pipeline import API_KEY, API_TOKEN, free_port, roster_yaml, user
from tests.rosters import utc
from tests.services import COORDINATION_REDIS_DB, redis_url

NOON = utc("2026-11-30T12:00:00+00:00")
USERS = 120
IN_SHIFT = 40  # agents a0..a39 should be ON all day; the others OFF


def name(i: int) -> str:
    return f"a{i}"


@dataclass
class World:
    sandbox: Sandbox
    store: ActionStore
    clock: FixedClock
    roster_path: Path

    def control(self, method: str, path: str, body: object = None) -> Any:
        reply = requests.request(
            method, f"{self.sandbox.url}/_sandbox/{path}", json=body, timeout=5
        )
        reply.raise_for_status()
        return reply.json()

    def set_device(self, i: int, on: bool) -> None:
        self.control("PUT", f"devices/acme_corp/u-{i}/{100000 + i}", {"available": on})

    def gets(self) -> int:
        return int(self.control("GET", "counts")["methods"].get("GET", 0))

    def reader(self, account: Account, pace: Callable[[], None]) -> Reader | None:
        return ExotelClient(
            self.sandbox.url, "acme_corp", Credentials(API_KEY, API_TOKEN), pace=pace
        )

    def scheduler(
        self,
        recorder: Recorder,
        *,
        readable: bool = True,
        drift_every: timedelta | None = None,
        leadership: Leadership | None = None,
    ) -> tuple[Scheduler, Checker]:
        checker = Checker(self.reader if readable else (lambda _a, _p: None), None, self.clock)
        sched = Scheduler(
            RosterFile(str(self.roster_path)),
            self.store,
            recorder,
            checker=checker,
            drift_every=drift_every,
            leadership=leadership,
        )
        return sched, checker

    # The scheduler and its checker on the test's clock, moved to ``at`` first.

    def start(self, sched: Scheduler, at: datetime) -> None:
        self.clock.set(at)
        sched.start(at)

    def tick(self, sched: Scheduler, at: datetime) -> None:
        self.clock.set(at)
        sched.tick(at)

    def reconcile(self, sched: Scheduler, at: datetime) -> None:
        self.clock.set(at)
        sched.reconcile(at)

    def checks(self) -> list[RemoteCheck]:
        with self.store.sessions() as session:
            return list(session.scalars(select(RemoteCheck).order_by(RemoteCheck.id)))


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """120 users with one device each, all OFF in Exotel; a0..a39 should be ON all day."""
    users = [user(f"u-{i}", (str(100000 + i), "Desk", f"+9199531{i:05d}")) for i in range(USERS)]
    seed = {"accounts": {"acme_corp": {"api_key": API_KEY, "api_token": API_TOKEN}}}
    seed["accounts"]["acme_corp"]["users"] = users  # type: ignore[index]
    sandbox = Sandbox(parse_seed(seed), port=0).start()
    agents = {name(i): (f"u-{i}", {"desk": str(100000 + i)}) for i in range(USERS)}
    shifts = [
        {
            "name": "all-day",
            "start": "0 0 * * *",
            "duration": "24h",
            "members": [name(i) for i in range(IN_SHIFT)],
        }
    ]
    path = tmp_path / "schedules.yaml"
    path.write_text(roster_yaml(sandbox.url, agents, shifts, rate_limit="100/s"))
    engine = make_engine(database_url)
    try:
        yield World(sandbox, ActionStore(engine), FixedClock(NOON), path)
    finally:
        sandbox.stop()
        engine.dispose()


def sent(recorder: Recorder) -> list[tuple[str, bool, str]]:
    return sorted((owner, on, source) for owner, batch in recorder.sent for _, on, source in batch)


def test_first_start_reads_unknown_devices_in_pages_and_sets_only_those_that_differ(
    world: World,
) -> None:
    w = world
    for i in range(20):  # half of those in the shift are ON already
        w.set_device(i, True)
    for i in range(100, 110):  # and ten who should be OFF are ON
        w.set_device(i, True)
    recorder = Recorder()
    sched, checker = w.scheduler(recorder)
    w.start(sched, NOON)
    assert recorder.sent == []  # nothing is sent to a device never confirmed before it is read
    checker.run_pending()
    assert w.gets() == 3  # 120 users, 50 to a page
    w.tick(sched, NOON + timedelta(seconds=1))
    expected = [(f"main/u-{i}", True, "reconcile") for i in range(20, 40)]
    expected += [(f"main/u-{i}", False, "reconcile") for i in range(100, 110)]
    assert sent(recorder) == sorted(expected)
    (check,) = w.checks()
    assert (check.kind, check.devices, check.drifted, check.reads) == ("first-read", 120, 30, 3)
    w.tick(sched, NOON + timedelta(seconds=2))  # read once: not again
    checker.run_pending()
    assert w.gets() == 3


def test_a_few_unknown_devices_are_read_user_by_user(world: World) -> None:
    w = world
    recorder = Recorder()
    sched, checker = w.scheduler(recorder)
    w.start(sched, NOON)
    checker.run_pending()
    w.tick(sched, NOON + timedelta(seconds=1))
    before = w.gets()
    with w.store.sessions.begin() as session:  # two devices never confirmed (new entries)
        session.execute(delete(DeviceState).where(DeviceState.device_id.in_(["100050", "100077"])))
    w.reconcile(sched, NOON + timedelta(seconds=2))
    checker.run_pending()
    assert w.gets() - before == 2  # GET /users/{id}, twice: cheaper than three pages


def test_devices_that_cannot_be_read_are_set_without_a_read(world: World) -> None:
    """No credentials for the account in the scheduler's environment: as before, every device
    never confirmed is sent its desired state."""
    w = world
    recorder = Recorder()
    sched, _ = w.scheduler(recorder, readable=False)
    w.start(sched, NOON)
    assert len(sent(recorder)) == USERS
    assert w.gets() == 0


def settled(w: World, **kwargs: Any) -> tuple[Scheduler, Checker, Recorder]:
    """A scheduler whose first read found every device as wanted."""
    for i in range(IN_SHIFT):
        w.set_device(i, True)
    recorder = Recorder()
    sched, checker = w.scheduler(recorder, **kwargs)
    w.start(sched, NOON)
    checker.run_pending()
    w.tick(sched, NOON + timedelta(seconds=1))
    assert recorder.sent == []
    return sched, checker, recorder


def test_a_device_whose_request_went_unanswered_is_read_back_and_corrected(world: World) -> None:
    """The late ON: a0's device was confirmed OFF, but an ON sent before, unanswered, landed
    after it. The worker recorded the read-back; when it is due, the device is read, found
    ON, and turned OFF."""
    w = world
    sched, checker, recorder = settled(w)
    w.set_device(100, True)  # the late ON lands
    sent_at = NOON + timedelta(seconds=5)
    with w.store.sessions.begin() as session:
        session.add(
            ReadBack(
                account="main",
                user_id="u-100",
                device_id="100100",
                agent="a100",
                device="desk",
                since=sent_at,
                due_at=sent_at + timedelta(seconds=30),
                action_id=None,
                reason="PUT available=true went unanswered",
            )
        )
    gets = w.gets()
    w.reconcile(sched, NOON + timedelta(seconds=20))  # unknown until read: not set meanwhile
    w.tick(sched, NOON + timedelta(seconds=20))
    checker.run_pending()
    assert recorder.sent == [] and w.gets() == gets  # not due yet
    w.tick(sched, sent_at + timedelta(seconds=31))
    checker.run_pending()
    assert w.gets() == gets + 1  # GET /users/u-100
    w.tick(sched, sent_at + timedelta(seconds=32))
    assert sent(recorder) == [("main/u-100", False, "reconcile")]
    check = w.checks()[-1]
    assert check.kind == "read-back"
    assert check.findings == [
        {"agent": "a100", "device": "desk", "wanted": False, "found": True, "action": None}
    ]
    with w.store.sessions() as session:
        assert session.scalars(select(ReadBack)).all() == []


def test_the_drift_check_reads_every_device_at_its_interval_and_corrects_drift(
    world: World,
) -> None:
    w = world
    sched, checker, recorder = settled(w, drift_every=timedelta(minutes=15))
    gets = w.gets()
    w.set_device(105, True)  # the agent turned the phone ON in Exotel's app
    w.tick(sched, NOON + timedelta(minutes=10))
    checker.run_pending()
    assert w.gets() == gets  # not yet
    w.tick(sched, NOON + timedelta(minutes=15))
    checker.run_pending()
    assert w.gets() == gets + 3
    w.tick(sched, NOON + timedelta(minutes=15, seconds=1))
    assert sent(recorder) == [("main/u-105", False, "reconcile")]
    drift = w.checks()[-1]
    assert (drift.kind, drift.devices, drift.drifted) == ("drift", 120, 1)

    # The next check finds nothing drifted (the worker's OFF is done): nothing is sent.
    w.set_device(105, False)
    confirm_all(w.store, NOON + timedelta(minutes=16))
    recorder.sent.clear()
    w.tick(sched, NOON + timedelta(minutes=30, seconds=1))
    checker.run_pending()
    w.tick(sched, NOON + timedelta(minutes=30, seconds=2))
    assert recorder.sent == []
    assert w.checks()[-1].drifted == 0


def test_a_held_device_is_no_drift(world: World) -> None:
    w = world
    sched, checker, recorder = settled(w, drift_every=timedelta(minutes=15))
    w.set_device(106, True)
    Controls(w.store.engine).hold(
        account="main",
        agent="a106",
        device="desk",
        available=True,
        now=NOON,
        until=NOON + timedelta(hours=1),
        by="ops",
        action_id=None,
    )
    w.tick(sched, NOON + timedelta(minutes=15))
    checker.run_pending()
    w.tick(sched, NOON + timedelta(minutes=15, seconds=1))
    assert ("main/u-106", False, "reconcile") not in sent(recorder)
    assert w.checks()[-1].drifted == 0


def test_two_schedulers_starting_together_reconcile_each_device_once(world: World) -> None:
    w = world
    redis = Redis.from_url(redis_url(COORDINATION_REDIS_DB))
    redis.flushdb()
    try:
        first, second = Recorder(), Recorder()
        a, _ = w.scheduler(first, readable=False, leadership=Leadership(redis))
        b, _ = w.scheduler(second, readable=False, leadership=Leadership(redis))
        w.start(a, NOON)
        w.start(b, NOON)
        assert len(sent(first)) == USERS and second.sent == []
        assert a.leading and not b.leading
        # The leader stops; its lease lapses; the other takes the lead and reconciles once.
        redis.flushdb()
        w.tick(b, NOON + timedelta(seconds=1))
        assert b.leading
    finally:
        redis.flushdb()
        redis.close()


def test_a_read_older_than_a_confirmed_switch_is_no_drift(world: World) -> None:
    """A switch answered while a long read was under way is newer than what the read saw."""
    w = world
    sched, checker, recorder = settled(w, drift_every=timedelta(minutes=15))
    w.set_device(107, True)
    w.tick(sched, NOON + timedelta(minutes=15))
    checker.run_pending()  # the read sees a107 ON
    w.set_device(107, False)  # a switch OFF answered after the read was sent
    with w.store.sessions.begin() as session:
        state = session.get_one(DeviceState, ("main", "u-107", "100107"))
        state.available, state.confirmed_at = False, NOON + timedelta(minutes=15, seconds=1)
    w.tick(sched, NOON + timedelta(minutes=15, seconds=2))
    assert recorder.sent == []
    assert w.checks()[-1].drifted == 0
    with w.store.sessions() as session:
        assert session.get_one(DeviceState, ("main", "u-107", "100107")).available is False


def test_a_scheduler_starting_without_redis_says_it_cannot_tell_whether_it_leads(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    nowhere = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    scheduler, _ = w.scheduler(Recorder(), readable=False, leadership=Leadership(nowhere))
    with caplog.at_level(logging.WARNING, logger="shiftswitch.scheduler"):
        w.start(scheduler, NOON)
    assert not scheduler.leading
    assert any("cannot tell whether this scheduler leads" in r.getMessage() for r in caplog.records)
