"""``Scheduler.run`` on a test clock: it ticks at a boundary's instant, not up to a second later,
and still polls every second; a failed tick is tried again a second later, not at once.

The clock is a :class:`~shiftswitch.clock.FixedClock` that the stop event's ``wait`` moves on
(:class:`tests.unit.test_wake.TestStop`): the loop runs as in production, without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from scheduler.loop import Scheduler
from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.models import Action
from shiftswitch.settings import Settings
from shiftswitch.sources.source import RosterFile
from tests.rosters import roster_text, utc
from tests.unit.test_wake import TestStop

START = utc("2026-11-30T08:59:58.300000+00:00")
ON = utc("2026-11-30T09:00:00.250000+00:00")  # asha's override: exact instants, with ms
OFF = utc("2026-11-30T09:00:01.750000+00:00")
S = timedelta(seconds=1)
EVENING = {"name": "pm", "start": "0 22 * * *", "duration": "1h", "members": ["asha:desk"]}


class Sent:
    """A broker twin: what was handed over, and when on the clock; after the start it can
    fail a number of times (Redis unreachable)."""

    def __init__(self, clock: FixedClock, failures: int = 0) -> None:
        self.clock = clock
        self.failures = failures
        self.at: list[tuple[datetime, str | None, bool]] = []

    def held(self) -> set[int] | None:
        return None

    def dispatch(self, groups: Sequence[tuple[str, Sequence[Action]]]) -> None:
        if self.failures and self.clock.now() > START:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.at += [(self.clock.now(), a.device, a.wants_on) for _, g in groups for a in g]


@pytest.fixture
def store(database_url: str) -> Iterator[ActionStore]:
    engine = make_engine(database_url)
    yield ActionStore(engine)
    engine.dispose()


def run(tmp_path: Path, store: ActionStore, failures: int = 0) -> tuple[Sent, TestStop]:
    path = tmp_path / "schedules.yaml"
    override = {"agent": "ravi", "from": ON.isoformat(), "to": OFF.isoformat()}
    path.write_text(roster_text([EVENING], overrides=[override]))
    clock = FixedClock(START)
    sent = Sent(clock, failures)
    stop = TestStop(clock, START + 5 * S)
    Scheduler(RosterFile(str(path)), store, sent).run(clock, stop)
    return sent, stop


def test_it_ticks_at_each_boundary_instant_and_polls_every_second(
    tmp_path: Path, store: ActionStore
) -> None:
    sent, stop = run(tmp_path, store)
    # Reconciled at the start (every device OFF, never confirmed): then the override's ON and
    # OFF, each sent at its very instant.
    assert [s for s in sent.at if s[0] > START] == [(ON, "desk", True), (OFF, "desk", False)]
    wakes = [START + timedelta(seconds=sum(stop.waits[: k + 1])) for k in range(len(stop.waits))]
    assert ON in wakes and OFF in wakes
    assert max(stop.waits) <= 1.0  # the roster, holds and pauses read every second at least


def test_a_failed_tick_is_tried_again_a_second_later(tmp_path: Path, store: ActionStore) -> None:
    sent, stop = run(tmp_path, store, failures=2)  # the ON's first two sends fail
    assert next(s for s in sent.at if s[0] > START) == (ON + 2 * S, "desk", True)
    assert 0.0 not in stop.waits  # never tried again at once


def test_an_outage_is_said_once_when_it_begins_and_once_when_it_ends(
    tmp_path: Path, store: ActionStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shiftswitch.scheduler")
    run(tmp_path, store, failures=3)
    said = [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records if "tick" in r.msg]
    errors = [s for s in said if s[0] >= logging.WARNING]
    assert [(level, text) for level, text, _ in errors] == [
        (
            logging.ERROR,
            "tick failed: Redis unreachable or failing: broker unreachable; trying again every 1 s",
        ),
        (logging.WARNING, "ticks again: Redis answers (3 ticks failed)"),
    ]
    assert all(exc_info is None for _, _, exc_info in said)  # no traceback for a known part


def test_connecting_to_a_broker_that_is_down_does_not_hold_the_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The connection opened ahead of the first message is best effort: one try, a warning."""
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"})  # nothing listens
    dispatcher = CeleryDispatcher(make_celery(settings))
    began = time.monotonic()
    dispatcher.connect()
    assert time.monotonic() - began < 2.0
    assert "cannot connect to the broker yet" in caplog.text


def test_preparing_for_the_first_boundary_keeps_nothing(store: ActionStore) -> None:
    """At its start the scheduler records and claims a probe in a transaction it rolls back,
    so that the first boundary does not wait for that SQL to be compiled."""
    store.warm(START)
    store.warm(START)  # again: no conflict with a first probe left behind
    with store.sessions() as session:
        assert session.scalars(select(Action)).all() == []
