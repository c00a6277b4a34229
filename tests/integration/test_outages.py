"""An account's Exotel down, on a real database: recorded once, holding back what is due, and
ended by the scheduler's first answered probe, which sends at once what waited."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from scheduler.loop import Scheduler
from scheduler.probes import OutageWatch, Prober
from shiftswitch.actions import ActionStore
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.models import Action, ExotelOutage, Status
from shiftswitch.outages import PROBE_EVERY, UNPROBED_END, Outages
from shiftswitch.reports import status
from shiftswitch.sources.source import RosterFile
from tests.integration.test_scheduler import HANDOFF, MONDAY_0859, Recorder, confirm_all
from tests.rosters import roster_text

DOWN = Outcome(Kind.RETRY, 503, None, "Service Unavailable", None, None, 0.01)
UP = Outcome(Kind.OK, 200, None, None, None, None, 0.01)


class PingerTwin:
    """Exotel as a probe finds it: down until told otherwise; the probes it was asked."""

    def __init__(self) -> None:
        self.answer = DOWN
        self.asked = 0

    def probe(self) -> Outcome:
        self.asked += 1
        return self.answer


@pytest.fixture
def store(database_url: str) -> Iterator[ActionStore]:
    engine = make_engine(database_url)
    yield ActionStore(engine)
    engine.dispose()


def test_an_outage_is_recorded_once_per_account(store: ActionStore) -> None:
    outages = Outages(store.engine)
    assert outages.begin("main", "503 Service Unavailable", MONDAY_0859) is not None
    assert outages.begin("main", "again", MONDAY_0859) is None  # another worker, same outage
    assert outages.begin("other", "timeout", MONDAY_0859) is not None
    assert [o.account for o in outages.open()] == ["main", "other"]
    assert outages.end("main", MONDAY_0859) is not None
    assert outages.end("main", MONDAY_0859) is None
    assert outages.begin("main", "down again", MONDAY_0859) is not None  # a new one


class World:
    def __init__(self, store: ActionStore, roster: Path, can_probe: bool = True) -> None:
        self.store = store
        self.clock = FixedClock(MONDAY_0859)
        self.pinger = PingerTwin()
        self.prober = Prober(lambda _a, _p: self.pinger if can_probe else None, None, self.clock)
        self.outages = Outages(store.engine)
        self.rec = Recorder()
        self.scheduler = Scheduler(
            RosterFile(str(roster)),
            store,
            self.rec,
            outages=OutageWatch(self.outages, self.prober),
        )
        self.scheduler.start(MONDAY_0859)
        confirm_all(store, MONDAY_0859)
        self.rec.sent.clear()

    def tick(self, at: datetime) -> None:
        """A tick at ``at``, then the probes it submitted made (by the prober's thread, in
        production): their results are taken at the next tick."""
        self.clock.set(at)
        self.scheduler.tick(at)
        self.prober.run_pending()

    def statuses(self) -> list[str]:
        with self.store.sessions() as session:
            return [str(s) for s in session.scalars(select(Action.status).order_by(Action.id))]


@pytest.fixture
def roster(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(roster_text(HANDOFF))
    return path


def test_a_boundary_in_an_outage_waits_and_goes_at_the_first_answered_probe(
    store: ActionStore, roster: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = World(store, roster)
    began = MONDAY_0859 + timedelta(seconds=50)
    w.outages.begin("main", "503 Service Unavailable", began)
    w.tick(began + timedelta(seconds=1))  # sees the outage (the ``outages`` counter moved)
    nine = MONDAY_0859 + timedelta(minutes=1)
    w.tick(nine)
    assert w.rec.sent == []  # recorded, not handed to the broker
    assert set(w.statuses()[-2:]) == {"pending"}
    assert w.pinger.asked == 1  # 10 s after it began: probed
    for seconds in range(1, 12):  # a tick a second: a probe every 5 s, each recorded
        w.tick(nine + timedelta(seconds=seconds))
    assert w.pinger.asked == 3 and w.rec.sent == []
    (outage,) = w.outages.open()
    assert (outage.probes, outage.probe_error) == (3, "503 Service Unavailable")
    report = status(store, w.scheduler.roster, nine + timedelta(seconds=11))
    assert [(o["account"], o["probes"]) for o in report["exotel_down"]] == [("main", 3)]

    w.pinger.answer = UP
    caplog.set_level(logging.INFO, logger="shiftswitch.scheduler")
    back = nine + timedelta(seconds=12)
    w.tick(back)  # the probe is due at +15 s: made then
    assert w.rec.sent == []
    w.tick(back + timedelta(seconds=3))
    w.tick(back + timedelta(seconds=4))  # its answer taken: the outage ends, all goes now
    assert sorted(w.rec.flat()) == [("desk", True, "schedule"), ("desk", True, "schedule")]
    assert w.outages.open() == []
    said = [r.getMessage() for r in caplog.records if "exotel_back" in r.getMessage()]
    assert len(said) == 1 and "account=main" in said[0] and "probes=3" in said[0]


def test_queued_actions_in_their_backoff_are_released_at_the_end(store: ActionStore) -> None:
    outages = Outages(store.engine)
    w_at = MONDAY_0859
    with store.sessions.begin() as session:
        session.add_all(
            Action(
                key=f"k{i}",
                source="schedule",
                user_key=f"main/u-{i}",
                account=account,
                sid="acme",
                base_url="http://127.0.0.1:8090",
                rate_limit="10/s",
                wants_on=True,
                due_at=w_at,
                created_at=w_at,
                status=status_,
                retry_at=w_at + timedelta(minutes=1),
                enqueued_at=w_at,
            )
            for i, (account, status_) in enumerate(
                [
                    ("main", Status.QUEUED),
                    ("main", Status.PENDING),
                    ("main", Status.RUNNING),  # a worker is sending it: left to it
                    ("other", Status.QUEUED),  # another account: not its outage
                ]
            )
        )
    outages.begin("main", "timeout", w_at)
    with store.sessions() as session:
        assert store.claim(session, Action.id.is_not(None), w_at) == []  # nothing pending claimed
    ended = outages.end("main", w_at + timedelta(seconds=30))
    assert ended is not None and ended[1] == 2
    with store.sessions() as session:
        rows = session.execute(
            select(Action.account, Action.status, Action.retry_at).order_by(Action.id)
        ).all()
    assert [(a, str(s), r is None) for a, s, r in rows] == [
        ("main", "pending", True),
        ("main", "pending", True),
        ("main", "running", False),
        ("other", "queued", False),
    ]


def test_an_account_this_scheduler_cannot_probe_is_tried_again_by_the_workers(
    store: ActionStore, roster: Path
) -> None:
    w = World(store, roster, can_probe=False)
    w.outages.begin("main", "503 Service Unavailable", MONDAY_0859)
    at = MONDAY_0859
    while w.outages.open():
        at += timedelta(seconds=1)
        w.tick(at)
        assert at - MONDAY_0859 <= UNPROBED_END + PROBE_EVERY + timedelta(seconds=2)
    assert at - MONDAY_0859 >= UNPROBED_END


def test_a_probe_that_could_not_be_made_counts_as_failed_and_the_next_comes(
    store: ActionStore, roster: Path
) -> None:
    w = World(store, roster)
    answers = iter([RuntimeError("Redis went away"), UP])

    def probe() -> Outcome:
        w.pinger.asked += 1
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    w.pinger.probe = probe  # type: ignore[method-assign]
    w.outages.begin("main", "503 Service Unavailable", MONDAY_0859)
    at = MONDAY_0859
    while w.outages.open():
        at += timedelta(seconds=1)
        w.tick(at)
        assert at - MONDAY_0859 <= 2 * PROBE_EVERY + timedelta(seconds=3), "not probed again"
    assert w.pinger.asked == 2


def test_the_roster_no_longer_naming_the_account_ends_its_outage(
    store: ActionStore, roster: Path
) -> None:
    w = World(store, roster)
    w.outages.begin("gone", "503 Service Unavailable", MONDAY_0859)
    w.tick(MONDAY_0859 + PROBE_EVERY)
    with store.sessions() as session:
        ended = session.scalars(select(ExotelOutage.ended_at)).all()
    assert ended == [MONDAY_0859 + PROBE_EVERY] and w.pinger.asked == 0
