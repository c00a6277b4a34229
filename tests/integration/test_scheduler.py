"""The scheduler against a real database: record once, enqueue once, reconcile, reload.

The broker side is a recording dispatcher here (what would be sent, in order); the tests in
``tests/system/test_pipeline.py`` run the real broker and worker processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler import loop
from scheduler.loop import STALL, Scheduler
from shiftswitch.actions import ActionStore, for_transition
from shiftswitch.db import make_engine
from shiftswitch.models import Action, DeviceState, ResolvedDevice, Status
from shiftswitch.notify.config import NotifyConfig, Rule
from shiftswitch.notify.tables import Notification
from shiftswitch.planning.planner import Planner
from shiftswitch.problems import RosterError
from shiftswitch.reports import action_row
from shiftswitch.roster_tables import RosterVersion
from shiftswitch.sources.source import RosterFile
from tests.rosters import roster_text, utc

HANDOFF = [
    {"name": "desk-am", "start": "0 9 * * *", "duration": "4h", "members": ["asha:desk", "ravi"]},
    {"name": "mobile-pm", "start": "0 13 * * *", "duration": "4h", "members": ["asha:mobile"]},
]
MONDAY_0859 = utc("2026-11-30T08:59:00+00:00")
MONDAY_0900 = utc("2026-11-30T09:00:00+00:00")
# Hours of ticks: a tick every 2 minutes (STALL, the longest gap a scheduler takes as running
# on) from 09:00 meets each boundary (on the hour) on time.
HOURS_STEP = STALL


class Recorder:
    """What the scheduler hands to the broker: (owner, [(device, ON?, source)])."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str | None, bool, str]]]] = []

    def held(self) -> set[int] | None:
        return None  # cannot tell: the sweep waits for the long grace

    def dispatch(self, groups: Sequence[tuple[str, Sequence[Action]]]) -> None:
        for owner, actions in groups:
            self.sent.append((owner, [(a.device, a.wants_on, a.source) for a in actions]))

    def flat(self) -> list[tuple[str | None, bool, str]]:
        return [item for _, batch in self.sent for item in batch]


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


def scheduler(path: Path, store: ActionStore, recorder: Recorder) -> Scheduler:
    return Scheduler(RosterFile(str(path)), store, recorder)


def confirm_all(store: ActionStore, now: datetime) -> None:
    """Pretend every queued action succeeded, as a worker would record it."""
    with store.sessions.begin() as session:
        for a in session.scalars(select(Action).where(Action.status == Status.QUEUED)):
            a.status = Status.SUCCEEDED
            a.finished_at = now
            assert a.user_id is not None
            if a.device_id is None and a.contact_uri is not None:  # resolved, as a worker does
                a.device_id = f"id-of-{a.contact_uri}"
                session.merge(
                    ResolvedDevice(
                        account=a.account,
                        contact_uri=a.contact_uri,
                        user_id=a.user_id,
                        device_id=a.device_id,
                        resolved_at=now,
                    )
                )
            session.merge(
                DeviceState(
                    account=a.account,
                    user_id=a.user_id,
                    device_id=a.device_id,
                    agent=a.agent,
                    device=a.device,
                    available=a.wants_on,
                    confirmed_at=now,
                    action_id=a.id,
                )
            )


def started(path: Path, store: ActionStore) -> tuple[Scheduler, Recorder]:
    """A scheduler started at 08:59 and its first reconcile applied (each device confirmed as
    it wanted); the recorder holds what it sends from then on."""
    rec = Recorder()
    s = scheduler(path, store, rec)
    s.start(MONDAY_0859)
    confirm_all(store, MONDAY_0859)
    rec.sent.clear()
    return s, rec


def run_until(s: Scheduler, start: datetime, end: datetime, step: timedelta) -> None:
    """Tick from ``start`` to ``end``; what is sent succeeds at once."""
    now = start
    while now <= end:
        report = s.tick(now)
        if report.enqueued or report.reconciled:
            confirm_all(s.store, now)
        now += step


def test_boundaries_are_recorded_and_sent_once_with_off_before_on(
    store: ActionStore, roster_file: Path
) -> None:
    s, rec = started(roster_file, store)  # the first reconcile set every device OFF
    run_until(s, MONDAY_0900, utc("2026-11-30T13:00:30+00:00"), HOURS_STEP)
    owners = {owner: batch for owner, batch in rec.sent}
    assert rec.flat() == [
        ("desk", True, "schedule"),
        ("desk", True, "schedule"),
        ("desk", False, "schedule"),
        ("mobile", True, "schedule"),
        ("desk", False, "schedule"),
    ]
    # the handoff travels as one message, OFF first
    assert [b for o, b in rec.sent if o == "main/u-0"][-1] == [
        ("desk", False, "schedule"),
        ("mobile", True, "schedule"),
    ]
    assert set(owners) == {"main/u-0", "main/u-1"}
    with store.sessions() as session:
        keys = session.scalars(select(Action.key).where(Action.source == "schedule")).all()
    assert len(keys) == len(set(keys)) == 5


def test_a_restarted_scheduler_sends_nothing_twice(store: ActionStore, roster_file: Path) -> None:
    first = Recorder()
    s = scheduler(roster_file, store, first)
    s.start(MONDAY_0859)
    run_until(s, MONDAY_0859, utc("2026-11-30T09:00:05+00:00"), timedelta(seconds=1))
    sent_before = len(first.flat())
    again = Recorder()
    s2 = scheduler(roster_file, store, again)
    s2.start(utc("2026-11-30T09:00:06+00:00"))
    run_until(
        s2, utc("2026-11-30T09:00:06+00:00"), utc("2026-11-30T09:00:10+00:00"), timedelta(seconds=1)
    )
    assert sent_before > 0
    assert again.flat() == []  # the 09:00 ONs are recorded and under way: nothing new


def test_a_crash_between_record_and_enqueue_loses_nothing(
    store: ActionStore, roster_file: Path
) -> None:
    s = scheduler(roster_file, store, Recorder())
    s.start(MONDAY_0859)
    confirm_all(store, MONDAY_0859)
    # The 09:00 transitions recorded, and the process gone before it could enqueue them.
    due = Planner(s.roster).transitions(
        utc("2026-11-30T09:00:00+00:00"), utc("2026-11-30T09:00:01+00:00")
    )
    store.record([for_transition(s.roster, t) for t in due], utc("2026-11-30T09:00:00+00:00"))
    rec = Recorder()
    s2 = scheduler(roster_file, store, rec)
    s2.start(utc("2026-11-30T09:00:03+00:00"))
    assert sorted(rec.flat()) == [("desk", True, "schedule"), ("desk", True, "schedule")]
    run_until(
        s2, utc("2026-11-30T09:00:03+00:00"), utc("2026-11-30T09:00:10+00:00"), timedelta(seconds=1)
    )
    assert len(rec.flat()) == 2


def test_two_schedulers_at_once_send_each_transition_once(
    store: ActionStore, roster_file: Path
) -> None:
    a, b = Recorder(), Recorder()
    sa, sb = scheduler(roster_file, store, a), scheduler(roster_file, store, b)
    sa.start(MONDAY_0859)
    sb.start(MONDAY_0859)
    confirm_all(store, MONDAY_0859)
    a.sent.clear()
    b.sent.clear()
    now = MONDAY_0900
    while now <= utc("2026-11-30T13:00:05+00:00"):
        reports = [sb.tick(now), sa.tick(now)]
        if any(r.enqueued or r.reconciled for r in reports):
            confirm_all(store, now)
        now += HOURS_STEP
    both = sorted(a.flat() + b.flat())
    assert len(both) == 5
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Action)) == 5 + 3


def test_started_after_boundaries_applies_the_present_state_once(
    store: ActionStore, roster_file: Path
) -> None:
    rec = Recorder()
    s = scheduler(roster_file, store, rec)
    s.start(utc("2026-11-30T14:30:00+00:00"))  # desk-am ran 09-13, mobile-pm runs 13-17
    assert sorted(rec.flat()) == sorted(
        [("desk", False, "reconcile"), ("mobile", True, "reconcile"), ("desk", False, "reconcile")]
    )
    confirm_all(store, utc("2026-11-30T14:30:01+00:00"))
    rec.sent.clear()
    s.reconcile(utc("2026-11-30T14:31:00+00:00"))
    scheduler(roster_file, store, rec).start(utc("2026-11-30T14:32:00+00:00"))
    assert rec.flat() == []  # confirmed as desired: nothing to do


@pytest.mark.parametrize(("http_code", "again"), [(404, False), (503, True), (None, True)])
def test_reconcile_repeats_a_failed_action_unless_exotel_refused_it(
    store: ActionStore, roster_file: Path, http_code: int | None, again: bool
) -> None:
    rec = Recorder()
    s = scheduler(roster_file, store, rec)
    s.start(MONDAY_0859)
    with store.sessions.begin() as session:
        for a in session.scalars(select(Action)):
            a.status, a.last_http_code = Status.FAILED, http_code
    rec.sent.clear()
    s.reconcile(MONDAY_0859 + timedelta(seconds=30))  # still before 09:00: same desired state
    assert len(rec.flat()) == (3 if again else 0)
    rec.sent.clear()
    s.reconcile(MONDAY_0859 + timedelta(seconds=40))  # nothing new happened: nothing new sent
    assert rec.flat() == []


def test_a_roster_edit_is_picked_up_at_the_next_tick(
    store: ActionStore, roster_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s, rec = started(roster_file, store)
    # ravi's shift now starts at 09:00:30 instead of 09:00
    edited = [dict(HANDOFF[0], members=["asha:desk"]), HANDOFF[1]]
    edited.append({"name": "late", "start": "1 9 * * *", "duration": "1h", "members": ["ravi"]})
    roster_file.write_text(roster_text(edited))
    run_until(s, MONDAY_0859, utc("2026-11-30T09:01:05+00:00"), timedelta(seconds=1))
    assert rec.flat() == [("desk", True, "schedule"), ("desk", True, "schedule")]
    assert [o for o, _ in rec.sent] == ["main/u-0", "main/u-1"]
    with store.sessions() as session:
        ravi = session.scalars(select(Action).where(Action.agent == "ravi", Action.wants_on)).one()
        assert ravi.due_at == utc("2026-11-30T09:01:00+00:00")
        assert session.scalar(select(func.count()).select_from(RosterVersion)) == 2


def test_a_roster_edit_supersedes_what_was_not_sent_and_is_no_longer_wanted(
    store: ActionStore, roster_file: Path
) -> None:
    s, _ = started(roster_file, store)
    nine = utc("2026-11-30T09:00:00+00:00")
    s.tick(nine)  # asha's desk and ravi ON: queued, not yet applied (say, waiting for a retry)
    with store.sessions.begin() as session:
        session.add(  # and a manual ON of ravi's desk, which an edit never undoes
            Action(key="manual-1", source="manual", user_key="main/u-1", account="main",
                   sid="acme", base_url="http://127.0.0.1:8090", rate_limit="50/min",
                   agent="ravi", device="desk", user_id="u-1", device_id="100281",
                   wants_on=True, due_at=nine, created_at=nine, status=Status.QUEUED)
        )  # fmt: skip
    roster_file.write_text(roster_text([dict(HANDOFF[0], members=["asha:desk"]), HANDOFF[1]]))
    s.tick(nine + timedelta(seconds=1))  # ravi's shift is gone
    with store.sessions() as session:
        status = {
            (a.agent, a.source): (a.status, a.reason or "")
            for a in session.scalars(select(Action).where(Action.wants_on))
        }
    assert status[("asha", "schedule")] == ("queued", "")
    assert status[("ravi", "schedule")][0] == "superseded"
    assert (
        "no longer wanted by the roster put in force at 2026-11-30 09:00:01Z"
        in (status[("ravi", "schedule")][1])
    )
    assert status[("ravi", "manual")] == ("queued", "")


def test_an_invalid_edit_is_refused_and_the_last_good_roster_stays(
    store: ActionStore, roster_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s, rec = started(roster_file, store)
    roster_file.write_text(roster_text([dict(HANDOFF[0], start="0 25 * * *"), HANDOFF[1]]))
    with caplog.at_level(logging.ERROR, logger="shiftswitch.scheduler"):
        run_until(s, MONDAY_0859, utc("2026-11-30T09:00:05+00:00"), timedelta(seconds=1))
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1  # said once, not at every tick
    assert "hour field" in refused[0] and "last good roster stays in force" in refused[0]
    assert len(rec.flat()) == 2  # the 09:00 ONs of the good roster
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RosterVersion)) == 1


def test_an_invalid_roster_at_start_is_an_error(store: ActionStore, roster_file: Path) -> None:
    roster_file.write_text(roster_text([dict(HANDOFF[0], duration="9x")]))
    with pytest.raises(RosterError):
        scheduler(roster_file, store, Recorder()).start(MONDAY_0859)


def test_a_stalled_scheduler_does_not_replay_missed_boundaries(
    store: ActionStore, roster_file: Path
) -> None:
    s, rec = started(roster_file, store)
    s.tick(utc("2026-11-30T08:59:30+00:00"))
    s.tick(utc("2026-11-30T14:00:00+00:00"))  # asleep through 09:00 and 13:00
    assert sorted(rec.flat()) == [("mobile", True, "reconcile")]


def test_a_week_of_boundaries_in_seconds(
    sqlite_url: str, roster_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scheduler's logic over a week (HOURS_STEP): one database serves for it. Sweeps,
    # which find nothing here (every action succeeds at once), come hourly, not each minute:
    # they cost three quarters of a tick, and the tests above sweep at every tick for hours.
    monkeypatch.setattr(loop, "SWEEP_EVERY", timedelta(hours=1))
    engine = make_engine(sqlite_url)
    store = ActionStore(engine)
    s, rec = started(roster_file, store)
    run_until(s, MONDAY_0900, MONDAY_0859 + timedelta(days=7), HOURS_STEP)
    engine.dispose()
    assert len(rec.flat()) == 7 * 6  # per day: 2 ONs at 09:00, 3 switches at 13:00, 1 OFF at 17:00


def test_ramped_ons_are_sent_before_the_start_and_reconcile_keeps_them(
    store: ActionStore, tmp_path: Path
) -> None:
    team = {f"a{i}": {"desk": str(6000 + i)} for i in range(5)}
    shift = {"name": "day", "start": "0 9 * * *", "duration": "8h", "members": list(team)}
    path = tmp_path / "schedules.yaml"
    path.write_text(
        roster_text([shift], agents=team, account={"rate_limit": "6/min", "ramp": "2m"})
    )
    rec = Recorder()
    s = scheduler(path, store, rec)
    s.start(MONDAY_0859 - timedelta(minutes=2))  # 08:57
    confirm_all(store, MONDAY_0859)
    rec.sent.clear()
    # 6/min: a slot every 10.1 s; the five ONs from 08:59:09.5 to 08:59:49.9
    run_until(s, MONDAY_0859, utc("2026-11-30T08:59:59+00:00"), timedelta(seconds=1))
    assert len(rec.flat()) == 5 and all(on for _, on, _ in rec.flat())
    with store.sessions() as session:
        ons = list(session.scalars(select(Action).where(Action.source == "schedule")))
    nine = utc("2026-11-30T09:00:00+00:00")
    assert all(a.due_at < nine and a.key.endswith(f"/{nine.isoformat()}/on") for a in ons)
    assert all(a.boundary_at == nine for a in ons)  # counted under the start they serve
    assert {action_row(a)["boundary_at"] for a in ons} == {"2026-11-30T09:00:00Z"}  # --json
    assert max(a.due_at for a in ons) > nine - timedelta(seconds=12)  # as late as it can
    # a reconcile before the start does not undo them, nor does the start send them again
    assert s.reconcile(utc("2026-11-30T08:59:59+00:00")) == 0
    rec.sent.clear()
    run_until(s, nine, nine + timedelta(seconds=5), timedelta(seconds=1))
    assert rec.sent == []


def test_a_roster_file_edit_that_moves_a_start_tells_the_agent(
    store: ActionStore, roster_file: Path
) -> None:
    config = NotifyConfig({"mail": "MAIL_URL"}, (Rule(frozenset({"shift_changed"}), ("mail",)),))
    with_contact = roster_text(HANDOFF).replace(
        "user_id: u-1,", "user_id: u-1, contact: ravi@example.com,"
    )
    roster_file.write_text(with_contact)
    s, _rec = started(roster_file, store)
    s.notify = config
    moved = with_contact.replace('"0 9 * * *"', '"0 8 * * *"')  # 08:00 to 12:00
    roster_file.write_text(moved)
    run_until(s, MONDAY_0859, utc("2026-11-30T08:59:05+00:00"), timedelta(seconds=1))
    with store.sessions() as session:
        told = list(session.scalars(select(Notification)))
    assert [(n.kind, n.recipient) for n in told] == [("shift_changed", "ravi@example.com")]
    assert "Tue 01 Dec 08:00 (UTC) on desk" in str(told[0].detail["why"])
