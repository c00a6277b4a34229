"""The worker's rules, driven in this process: ``apply_owner`` with a context built here.

A real SQLite database (migrated once, copied for each test), the sandbox in this process as
Exotel (its answers replaced or lost on purpose where Exotel does what the sandbox does not),
and in-memory twins of the user's lease, the request budget and the clock (:mod:`tests.twins`).
A task is one call of ``apply_owner``; a deferred task comes back when the test's clock has
moved by its countdown. Crashes, Redis, the rate limit across processes and the CLI are
tested with real worker processes elsewhere.
"""

from __future__ import annotations

import logging
import random
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, make_url, select, text, update

from shiftswitch.actions import ActionStore, NewAction, apply_order, confirm_states, for_device
from shiftswitch.budget import rate_bucket
from shiftswitch.db import autocommit_engine, make_engine, upgrade
from shiftswitch.exotel import ExotelClient
from shiftswitch.holds import Controls
from shiftswitch.models import (
    Action,
    Attempt,
    DeviceState,
    ReadBack,
    ResolvedDevice,
    Source,
    Status,
)
from shiftswitch.numbers import number_action
from shiftswitch.outages import Outages
from shiftswitch.retry import RetryPolicy
from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Roster
from shiftswitch.sandbox.seed import parse_seed
from shiftswitch.sandbox.server import Sandbox
from shiftswitch.settings import Credentials, Settings
from shiftswitch.turns import TurnStore
from tests.pipeline import API_KEY, API_TOKEN, roster_yaml, user
from tests.services import COORDINATION_REDIS_DB, redis_url
from tests.twins import LOST, Budget, ExotelTwin, Leases, TestTime, answer, timeout
from worker.app import build_context, warm_up
from worker.apply import apply_owner
from worker.context import CredentialsMissing, Defer, WorkerContext

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)
OLD, NEW, RAVIS = "+919953125068", "+919953125077", "+919953125002"
USERS = [
    user("u-100", ("100280", "Desk", "+919953125001"), ("100290", "Mobile", OLD)),
    user("u-101", ("100281", "Desk", RAVIS)),
    user("u-102", ("100282", "App", "+919953125003"), ("100283", "Personal", "+919953125004")),
]
AGENTS = {
    "asha": ("u-100", {"desk": "100280", "mobile": "100290"}),
    "ravi": (None, {"desk": RAVIS}),  # no user id: the number says whose device it is
    "meera": ("u-102", {"app": "100282"}),  # Exotel has another device, not in the roster
}
SHIFTS = [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}]
ASHA = "main/u-100"
POLICY = RetryPolicy(base_delay=1.0, max_delay=60.0, max_attempts=4, max_age=600.0)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database at the head migration, copied by each test (migrating takes a second)."""
    path = tmp_path_factory.mktemp("template") / "shiftswitch.db"
    upgrade(f"sqlite:///{path}")
    return path


@dataclass
class World:
    roster: Roster
    sandbox: Sandbox
    store: TurnStore
    time: TestTime
    leases: Leases
    budget: Budget
    exotel: ExotelTwin
    ctx: WorkerContext
    slot: datetime | None = None  # a request slot a deferred task hands to the next

    def action(
        self, agent: str, device: str, on: bool, at: datetime = T0, key: str | None = None
    ) -> NewAction:
        key = key or f"test:{agent}/{device}/{'on' if on else 'off'}/{at.isoformat()}"
        return for_device(
            self.roster, agent, device, on, key=key, source=Source.SCHEDULE, due_at=at
        )

    def record(self, *actions: NewAction) -> list[Action]:
        """Record ``actions`` (queued, as the scheduler hands them over); their rows."""
        ActionStore(self.store.engine).record(actions, self.time.now())
        keys = [a.key for a in actions]
        with self.store.sessions.begin() as session:
            session.execute(update(Action).where(Action.key.in_(keys)).values(status=Status.QUEUED))
        by_key = {a.key: a for a in self.actions()}
        return [by_key[k] for k in keys]

    def run(self, owner: str = ASHA, last: Action | None = None) -> float | None:
        """One task for ``owner``, sent for their actions up to ``last`` (default: all), with
        the slot the task before it handed on; None when it is done, else in how many seconds
        it comes back."""
        mine = [a for a in self.actions() if a.user_key == owner]
        slot, self.slot = self.slot, None
        try:
            apply_owner(self.ctx, owner, apply_order(last or max(mine, key=apply_order)), slot)
        except Defer as defer:
            self.slot = defer.slot
            return defer.countdown
        return None

    def drain(self, owner: str = ASHA, tasks: int = 20) -> list[float]:
        """Tasks for ``owner`` until one is done, the clock moved by each countdown between
        them; the countdowns."""
        countdowns: list[float] = []
        while (countdown := self.run(owner)) is not None:
            countdowns.append(countdown)
            assert len(countdowns) < tasks, countdowns
            self.time.sleep(countdown)
        return countdowns

    def record_queued(self, *actions: Action) -> None:
        """Queue recorded actions again, as the scheduler's claim does."""
        with self.store.sessions.begin() as session:
            ids = [a.id for a in actions]
            session.execute(update(Action).where(Action.id.in_(ids)).values(status=Status.QUEUED))

    def actions(self) -> list[Action]:
        with self.store.sessions() as session:
            return list(session.scalars(select(Action).order_by(Action.id)))

    def get(self, action: Action) -> Action:
        with self.store.sessions() as session:
            return session.get_one(Action, action.id)

    def attempts(self, action: Action | None = None) -> list[tuple[str, int | None, str]]:
        with self.store.sessions() as session:
            rows = session.scalars(select(Attempt).order_by(Attempt.id))
            return [
                (a.request, a.http_code, a.outcome)
                for a in rows
                if action is None or a.action_id == action.id
            ]

    def state(self, user_id: str, device_id: str) -> DeviceState | None:
        with self.store.sessions() as session:
            return session.get(DeviceState, ("main", user_id, device_id))

    def control(self, method: str, path: str, body: object = None) -> Any:
        url = f"{self.sandbox.url}/_sandbox/{path}"
        reply = requests.request(method, url, json=body, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def set_device(self, user_id: str, device_id: str, **fields: object) -> None:
        """Change a device in Exotel behind the worker's back (a person in the dashboard)."""
        self.control("PUT", f"devices/acme_corp/{user_id}/{device_id}", fields)

    def faults(self, *rules: dict[str, object]) -> None:
        self.control("PUT", "faults", {"rules": list(rules)})

    def sent(self) -> list[tuple[str, str | None, object]]:
        """What Exotel received: (method, device id or user id, body)."""
        return [
            (r["method"], r["device_id"] or r["user_id"], r["body"])
            for r in self.control("GET", "log")["requests"]
        ]


@pytest.fixture
def world(tmp_path: Path, migrated: Path) -> Iterator[World]:
    path = tmp_path / "shiftswitch.db"
    shutil.copyfile(migrated, path)
    seed = {"accounts": {"acme_corp": {"api_key": API_KEY, "api_token": API_TOKEN}}}
    seed["accounts"]["acme_corp"]["users"] = USERS  # type: ignore[index]
    sandbox = Sandbox(parse_seed(seed), port=0).start()
    engine = make_engine(f"sqlite:///{path}")
    client = ExotelClient(
        sandbox.url, "acme_corp", Credentials(API_KEY, API_TOKEN), timeout=(1.0, 1.0)
    )
    time = TestTime(T0)
    leases, budget, exotel = Leases(time), Budget(time), ExotelTwin(client)
    store = TurnStore(engine, autocommit_engine(engine))  # as the worker builds it
    ctx = WorkerContext(
        store=store,
        lease=leases,
        budget=budget,
        client_for=lambda _action: exotel,
        policy=POLICY,
        clock=time,
        rng=random.Random(7),
        sleep=time.sleep,
        monotonic=time.monotonic,
    )
    roster = parse_roster(roster_yaml(sandbox.url, AGENTS, SHIFTS))
    try:
        yield World(roster, sandbox, store, time, leases, budget, exotel, ctx)
    finally:
        client.close()
        sandbox.stop()
        engine.dispose()
        store.autocommitting.dispose()


def on(body: object) -> bool:
    return body == {"available": True}


# -- order ----------------------------------------------------------------------------------------


def test_a_users_actions_go_in_due_order_and_at_one_instant_off_before_on(world: World) -> None:
    w = world
    w.set_device("u-100", "100280", available=True)  # the desk is ON: an ON first would be refused
    at = T0 + timedelta(hours=8)
    later, handoff_on, handoff_off = w.record(
        w.action("asha", "desk", False, at + timedelta(hours=1)),  # recorded first, due last
        w.action("asha", "mobile", True, at),  # recorded before the OFF it must follow
        w.action("asha", "desk", False, at),
    )
    assert w.run(last=handoff_on) is None  # a task sent for the handoff's ON
    assert w.sent() == [
        ("PUT", "100280", {"available": False}),
        ("PUT", "100290", {"available": True}),
    ]
    assert [w.get(a).status for a in (handoff_off, handoff_on, later)] == [
        Status.SUCCEEDED,
        Status.SUCCEEDED,
        Status.QUEUED,  # after the last action the task was sent for: not its business
    ]


def test_warming_up_the_store_changes_nothing(world: World) -> None:
    w = world
    (on,) = w.record(w.action("asha", "desk", True))
    w.store.warm(w.time.now())  # a start-up's: every turn statement run once, on no action
    assert [(a.id, a.status, a.attempts) for a in w.actions()] == [(on.id, Status.QUEUED, 0)]
    assert w.run() is None
    assert w.get(on).status == Status.SUCCEEDED
    assert w.sent() == [("PUT", "100280", {"available": True})]


def test_a_worker_opens_connections_for_its_first_threads_before_its_first_task(
    database_url: str,
) -> None:
    """A boundary's first messages reach many threads at once: their connections are opened
    at the start, and kept in the pools (on PostgreSQL each one opened at the boundary made
    the first switches wait)."""
    settings = Settings(database_url=database_url, redis_url=redis_url(COORDINATION_REDIS_DB))
    ctx = build_context(settings, concurrency=6)
    engines = {id(e.pool): e for e in (ctx.store.engine, ctx.store.autocommitting)}
    try:
        assert [e.pool.checkedin() for e in engines.values()] == [0] * len(engines)
        warm_up(lambda: ctx, 4)
        assert [e.pool.checkedin() for e in engines.values()] == [4] * len(engines)
        assert len(engines) == (2 if database_url.startswith("sqlite") else 1)  # SQLite's reads
    finally:
        for engine in engines.values():
            engine.dispose()


def test_a_connection_refused_ends_the_opening_not_the_warm_up(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refusing a connection (``max_connections``, or a role's limit here) leaves
    the worker with those it opened, says so in a line, and still prepares a turn's SQL."""
    role = f"warm_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
        conn.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    url = make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    ctx = build_context(Settings(database_url=url, redis_url=redis_url(COORDINATION_REDIS_DB)), 6)
    try:
        with caplog.at_level(logging.WARNING, logger="shiftswitch.worker"):
            warm_up(lambda: ctx, 4)
        assert ctx.store.engine.pool.checkedin() == 2
        [line] = [r.getMessage() for r in caplog.records]
        assert "before the first task: 2 of 4 opened:" in line and "too many connections" in line
        assert "prepare" not in line  # the turn's SQL was prepared on those two
    finally:
        ctx.store.engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_the_instant_an_action_started_is_stored_as_every_instant_is(world: World) -> None:
    """Its statement is built once with a parameter for the instant: the parameter keeps the
    column's type (UTC, the stored format), not the driver's own way of writing a datetime."""
    w = world
    (on,) = w.record(w.action("asha", "desk", True))
    assert w.run() is None
    with w.store.engine.connect() as conn:
        started, due = conn.execute(
            text("SELECT started_at, due_at FROM actions WHERE id = :id"), {"id": on.id}
        ).one()
    assert len(started) == len(due) and started[10] == due[10]  # same format, as text
    assert w.get(on).started_at == w.time.now()


def test_a_task_takes_the_earlier_open_actions_of_its_user_first(world: World) -> None:
    """An action whose message was lost is taken by the next task for the same user."""
    w = world
    lost, sent_for = w.record(
        w.action("asha", "desk", False, T0), w.action("asha", "mobile", False, T0 + timedelta(1))
    )
    assert w.run(last=sent_for) is None
    assert [w.get(a).status for a in (lost, sent_for)] == [Status.SUCCEEDED, Status.SUCCEEDED]
    assert [device for _, device, _ in w.sent()] == ["100280", "100290"]


def test_an_action_a_later_switch_of_its_device_undoes_is_superseded(world: World) -> None:
    w = world
    early, late = w.record(
        w.action("asha", "desk", True, T0), w.action("asha", "desk", False, T0 + timedelta(hours=8))
    )
    assert w.run(last=early) is None
    assert w.get(early).status == Status.SUPERSEDED
    assert w.get(early).reason == (
        f"action {late.id} (schedule, due 2026-11-30 17:00:00Z) came after it for the same device"
    )
    assert w.sent() == []
    assert w.get(late).status == Status.QUEUED


def test_a_new_boundary_never_waits_for_the_backoff_of_an_action_it_undoes(
    world: World,
) -> None:
    w = world
    w.faults({"status": 500, "times": 1})
    (desk_on,) = w.record(w.action("asha", "desk", True, T0))
    assert w.run() is not None  # a 500: its retry is planned, about a second away
    assert w.get(desk_on).retry_at is not None
    # The next boundary, before that retry: the desk OFF again, the mobile ON.
    minute = T0 + timedelta(minutes=1)
    desk_off, mobile_on = w.record(
        w.action("asha", "desk", False, minute), w.action("asha", "mobile", True, minute)
    )
    assert w.run(last=mobile_on) is None  # at once, not after the retry's wait
    statuses = [w.get(a).status for a in (desk_on, desk_off, mobile_on)]
    assert statuses == [Status.SUPERSEDED, Status.SUCCEEDED, Status.SUCCEEDED]


def test_an_action_superseded_while_waiting_for_its_slot_is_not_sent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A roster edit supersedes it between the worker's read and its request."""
    w = world
    (action,) = w.record(w.action("asha", "desk", True))

    def roster_edit() -> None:
        with w.store.sessions.begin() as session:
            session.execute(
                update(Action).where(Action.id == action.id).values(status=Status.SUPERSEDED)
            )

    w.budget.before = roster_edit
    with caplog.at_level(logging.INFO, logger="shiftswitch.worker"):
        assert w.run() is None
    assert w.sent() == []
    assert f"action={action.id} superseded before it was sent" in caplog.text


# -- the one-device-ON rule -----------------------------------------------------------------------


def test_devices_confirmed_on_are_turned_off_before_an_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    w.set_device("u-100", "100280", available=True)
    with w.store.sessions.begin() as session:
        confirm_states(
            w.store.engine,
            session,
            [
                DeviceState(
                    account="main", user_id="u-100", device_id="100280", agent="asha",
                    device="desk", available=True, confirmed_at=T0 - timedelta(hours=1),
                )
            ],
        )  # fmt: skip
    (mobile_on,) = w.record(w.action("asha", "mobile", True))
    with caplog.at_level(logging.INFO, logger="shiftswitch.worker"):
        assert w.drain() == []
    assert w.sent() == [
        ("PUT", "100280", {"available": False}),
        ("PUT", "100290", {"available": True}),
    ]
    off = next(a for a in w.actions() if a.parent_id == mobile_on.id)
    assert (off.key, off.device, off.wants_on, off.status) == (
        f"{mobile_on.key}/off:desk",
        "desk",
        False,
        Status.SUCCEEDED,
    )
    assert w.get(mobile_on).status == Status.SUCCEEDED
    assert f"off_first action={mobile_on.id} agent=asha device=mobile turning_off=desk" in (
        caplog.text
    )


def test_another_device_on_that_the_roster_manages_is_turned_off_and_the_on_tried_again(
    world: World,
) -> None:
    """Exotel has the desk ON, which the database does not know: the ON meets 403."""
    w = world
    w.set_device("u-100", "100290", available=True)  # the mobile, switched on by hand
    (desk_on,) = w.record(w.action("asha", "desk", True))
    assert w.drain() == []
    assert [(m, d, b) for m, d, b in w.sent() if m == "PUT"] == [
        ("PUT", "100280", {"available": True}),  # 403: another device is ON
        ("PUT", "100290", {"available": False}),
        ("PUT", "100280", {"available": True}),
    ]
    assert w.attempts(desk_on) == [
        ("PUT available=true", 403, "final"),
        ("GET user", 200, "ok"),
        ("PUT available=true", 200, "ok"),
    ]
    child = next(a for a in w.actions() if a.parent_id == desk_on.id)
    assert (child.device, child.device_id, child.status) == ("mobile", "100290", Status.SUCCEEDED)


def test_another_device_on_that_the_roster_does_not_manage_is_a_conflict(world: World) -> None:
    w = world
    w.set_device("u-102", "100283", available=True)
    (app_on,) = w.record(w.action("meera", "app", True))
    assert w.run("main/u-102") is None
    done = w.get(app_on)
    assert done.status == Status.FAILED
    assert done.reason == (
        "conflict: another device is ON: Personal +919953125004 (id 100283), which the roster "
        "does not manage; turn it OFF in Exotel or add it to the agent's devices"
    )
    assert (done.last_http_code, done.error_code) == (403, "1003")


def test_an_on_after_a_failed_off_of_another_device_is_blocked(world: World) -> None:
    w = world
    w.exotel.script = [answer(400, "Bad request", "1000")]
    off, on_ = w.record(w.action("asha", "desk", False), w.action("asha", "mobile", True))
    assert w.run() is None
    assert w.get(off).status == Status.FAILED
    blocked = w.get(on_)
    assert blocked.status == Status.BLOCKED
    assert blocked.reason == (
        f"the OFF of desk (action {off.id}) before it did not succeed (failed: Exotel refused: "
        "400 1000 Bad request [request req-twin]); that device may still be ON"
    )
    assert w.exotel.calls == ["PUT 100280 available=false"]


def test_an_on_after_a_failed_off_goes_once_the_device_is_confirmed_off(world: World) -> None:
    w = world
    w.exotel.script = [answer(400, "Bad request", "1000")]
    w.record(w.action("asha", "desk", False))
    assert w.run() is None
    w.time.advance(timedelta(minutes=1))
    with w.store.sessions.begin() as session:  # a read of Exotel found it OFF since
        confirm_states(w.store.engine, session, [DeviceState(account="main", user_id="u-100",
                                              device_id="100280", available=False,
                                              confirmed_at=w.time.now())])  # fmt: skip
    (on_,) = w.record(w.action("asha", "mobile", True, T0 + timedelta(minutes=1)))
    assert w.drain() == []
    assert w.get(on_).status == Status.SUCCEEDED


# -- retries -----------------------------------------------------------------------------------


def test_a_429_is_tried_again_after_its_retry_after(world: World) -> None:
    w = world
    w.faults({"status": 429, "retry_after": 7})
    (action,) = w.record(w.action("asha", "desk", True))
    countdown = w.run()
    assert countdown is not None and 7 <= countdown <= 7.75  # Retry-After, plus up to 10 %
    waiting = w.get(action)
    assert (waiting.status, waiting.retry_at) == (
        Status.QUEUED, T0 + timedelta(seconds=countdown)
    )  # fmt: skip
    w.time.sleep(2)
    assert w.run() == pytest.approx(countdown - 2)  # too early: waits, sends nothing
    assert len(w.sent()) == 1
    w.time.sleep(countdown)
    assert w.run() is None
    assert w.attempts() == [
        ("PUT available=true", 429, "retry"),
        ("PUT available=true", 200, "ok"),
    ]
    with w.store.sessions() as session:
        assert session.scalars(select(Attempt.retry_delay)).all() == [round(countdown, 3), None]


def test_server_errors_are_tried_again_with_growing_backoff(world: World) -> None:
    w = world
    w.faults({"status": 500, "times": 1}, {"status": 503, "times": 1, "body": "html"})
    (action,) = w.record(w.action("asha", "desk", True))
    first, second = w.drain()
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # equal jitter on 1 s, then 2 s
    assert w.attempts() == [
        ("PUT available=true", 500, "retry"),
        ("PUT available=true", 503, "retry"),
        ("PUT available=true", 200, "ok"),
    ]
    assert w.get(action).status == Status.SUCCEEDED


def test_timeouts_are_tried_again_until_the_attempts_run_out(world: World) -> None:
    w = world
    w.exotel.script = [timeout()] * POLICY.max_attempts
    (action,) = w.record(w.action("asha", "desk", True))
    assert len(w.drain()) == POLICY.max_attempts - 1
    failed = w.get(action)
    assert failed.status == Status.FAILED
    assert failed.reason is not None
    assert failed.reason.startswith("gave up after 4 attempts in ")
    assert failed.reason.endswith(" s: timeout after 1.0 s (no answer from 127.0.0.1)")
    assert w.sent() == []


# -- numbers --------------------------------------------------------------------------------------


def test_a_number_change_gives_the_device_its_new_number_unverified(world: World) -> None:
    w = world
    (change,) = w.record(number_action(w.roster, "ravi", "desk", NEW, T0))  # given by number
    assert w.drain("main/@ravi") == []
    assert [(m, b) for m, _, b in w.sent()] == [("GET", None), ("PUT", {"contact_uri": NEW})]
    assert w.get(change).status == Status.SUCCEEDED
    state = w.state("u-101", "100281")
    assert state is not None and (state.contact_uri, state.available) == (NEW, None)
    with w.store.sessions() as session:
        cached = session.scalars(select(ResolvedDevice.contact_uri)).all()
    assert cached == [NEW]  # the old number is forgotten: a roster still giving it looks it up


def test_a_409_for_a_number_change_whose_answer_was_lost_is_the_change_done(world: World) -> None:
    """The first PUT lands but its answer is lost; the retry meets 409 (Exotel has the number,
    on this very device); the worker reads the user and finds the change done."""
    w = world
    w.exotel.script = [LOST, answer(409, "Device already exists", "1021")]
    (change,) = w.record(number_action(w.roster, "asha", "desk", NEW, T0))
    assert len(w.drain()) == 1
    assert w.attempts() == [
        (f"PUT contact_uri={NEW}", None, "retry"),
        (f"PUT contact_uri={NEW}", 409, "final"),
        ("GET user", 200, "ok"),
    ]
    done = w.get(change)
    assert (done.status, done.last_http_code) == (Status.SUCCEEDED, 200)
    state = w.state("u-100", "100280")
    assert state is not None and (state.contact_uri, state.available) == (NEW, None)


def test_a_number_another_device_has_is_refused(world: World) -> None:
    w = world
    (change,) = w.record(number_action(w.roster, "asha", "desk", RAVIS, T0))
    assert w.run() is None
    refused = w.get(change)
    assert refused.status == Status.FAILED
    assert refused.reason is not None and refused.reason.startswith(
        f"{RAVIS} is already the number of another device in Exotel account acme_corp; "
    )
    assert w.attempts() == [(f"PUT contact_uri={RAVIS}", 409, "final")]  # no read: 1st attempt


def test_number_changes_are_neither_superseded_nor_a_failed_off(world: World) -> None:
    w = world
    change, on_ = w.record(
        number_action(w.roster, "asha", "desk", RAVIS, T0),  # refused: 409
        w.action("asha", "desk", True, T0 + timedelta(seconds=1)),
    )
    assert w.run() is None
    assert [w.get(a).status for a in (change, on_)] == [Status.FAILED, Status.SUCCEEDED]


# -- contact URIs ---------------------------------------------------------------------------------


def test_a_device_given_by_number_is_looked_up_once(world: World) -> None:
    w = world
    ravi = "main/@ravi"
    w.record(w.action("ravi", "desk", True))
    assert w.run(ravi) is None
    w.record(w.action("ravi", "desk", False, T0 + timedelta(hours=8)))
    assert w.run(ravi) is None
    assert w.exotel.calls == [
        f"GET users {RAVIS}",
        "PUT 100281 available=true",
        "PUT 100281 available=false",
    ]
    assert [(a.user_id, a.device_id, a.status) for a in w.actions()] == [
        ("u-101", "100281", Status.SUCCEEDED)
    ] * 2
    # The lookup was answered: the PUT after it is no request left unanswered.
    assert read_backs(w) == []


def test_a_lookup_a_worker_died_in_leaves_nothing_unanswered_once_the_cache_knows(
    world: World,
) -> None:
    """A worker died during an action's lookup (left running, its device unknown); another
    action of the same number filled the cache meanwhile: no PUT was sent, so no read-back."""
    w = world
    ravi = "main/@ravi"
    w.record(w.action("ravi", "desk", True))
    assert w.run(ravi) is None  # looked up, and the cache keeps it
    (off,) = w.record(w.action("ravi", "desk", False, T0 + timedelta(hours=8)))
    with w.store.sessions.begin() as session:
        session.execute(
            update(Action).where(Action.id == off.id).values(status=Status.RUNNING, attempts=1)
        )
    w.drain(ravi)
    assert w.get(off).status == Status.SUCCEEDED
    assert read_backs(w) == []


def test_a_number_exotel_does_not_have_fails_the_action(world: World) -> None:
    w = world
    w.set_device("u-101", "100281", contact_uri="+919953125999")
    (action,) = w.record(w.action("ravi", "desk", True))
    assert w.run("main/@ravi") is None
    failed = w.get(action)
    assert (failed.status, failed.reason) == (
        Status.FAILED,
        f"no device with contact URI {RAVIS} in Exotel account acme_corp; "
        "check the number in the roster",
    )


# -- what stops a task ----------------------------------------------------------------------------


def test_a_paused_account_leaves_its_actions_pending(world: World) -> None:
    w = world
    Controls(w.store.engine).pause("main", "tests", T0)
    (action,) = w.record(w.action("asha", "desk", True))
    assert w.run() is None
    assert (w.get(action).status, w.sent()) == (Status.PENDING, [])


def test_exotel_failing_every_request_is_an_outage_recorded_once_that_spends_no_more(
    world: World,
) -> None:
    """Three requests in a row, of two actions, failing over 2 s record the outage; from then
    on the account's actions wait, pending, neither retried nor failed for good; once it ends
    they go at once."""
    w = world
    outages = w.ctx.outages = Outages(w.store.engine)
    w.faults({"status": 500, "times": None})
    (asha,) = w.record(w.action("asha", "desk", True))
    (meera,) = w.record(w.action("meera", "app", True))
    assert w.run("main/u-102") is not None  # meera's first attempt fails: a retry planned
    countdowns = w.drain()  # asha's attempts, until the run shows the outage
    tried = len(w.sent())
    assert tried in (4, 5)  # asha's third failure may come under 2 s after meera's
    assert countdowns[-1] == 0.0  # back at once, to be left pending
    assert (w.get(asha).status, w.get(asha).retry_at is not None) == (Status.PENDING, True)
    (outage,) = outages.open()
    assert outage.account == "main" and outage.error.startswith("500 1004 Internal Server Error")
    # meera's retry comes: left pending with no request, its backoff not waited for.
    assert w.run("main/u-102") is None
    assert (w.get(meera).status, len(w.sent())) == (Status.PENDING, tried)
    assert w.get(asha).status == Status.PENDING  # nor does asha's task retry it
    # Exotel answers again; the outage ends: what waited, its retries forgotten, goes now.
    w.faults()
    ended = outages.end("main", w.time.now())
    assert ended is not None and ended[1] == 2
    w.record_queued(asha, meera)
    assert w.drain() == [] and w.drain("main/u-102") == []
    assert (w.get(asha).status, w.get(meera).status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    assert len(w.sent()) == tried + 2
    assert outages.open() == []


def test_one_device_failing_alone_is_no_outage_of_the_account(world: World) -> None:
    """One action's own retries failing: no outage under twice the run (it fails on its own,
    as Exotel's answer for that device says)."""
    w = world
    w.ctx.outages = Outages(w.store.engine)
    w.faults({"status": 500, "times": None, "device_id": "100280"})
    (action,) = w.record(w.action("asha", "desk", True))
    w.drain()
    assert w.get(action).status == Status.FAILED  # out of attempts (4), on its own
    assert Outages(w.store.engine).open() == []


def test_actions_wait_while_an_outage_of_their_account_is_open(world: World) -> None:
    w = world
    Outages(w.store.engine).begin("main", "500 Internal error", T0)
    (action,) = w.record(w.action("asha", "desk", True))
    assert w.run() is None
    assert (w.get(action).status, w.sent()) == (Status.PENDING, [])


def test_a_request_answered_ends_a_run_of_failures(world: World) -> None:
    """Failures with answers between them are no outage: each action retries on its own."""
    w = world
    w.ctx.outages = Outages(w.store.engine)
    w.faults({"status": 500, "times": 2}, {"status": 429, "times": 1}, {"status": 500, "times": 1})
    (action,) = w.record(w.action("asha", "desk", True))
    w.drain()
    assert [code for _, code, _ in w.attempts()] == [500, 500, 429, 500]
    assert w.get(action).status == Status.FAILED  # out of attempts, on its own
    assert Outages(w.store.engine).open() == []


def test_missing_credentials_fail_the_action_and_name_the_variable(world: World) -> None:
    w = world

    def no_credentials(_action: Action) -> Any:
        raise CredentialsMissing("EXOTEL_MAIN_API_KEY is not set")

    w.ctx.client_for = no_credentials
    (action,) = w.record(w.action("asha", "desk", True))
    assert w.run() is None
    assert (w.get(action).status, w.get(action).reason) == (
        Status.FAILED,
        "EXOTEL_MAIN_API_KEY is not set",
    )


def test_a_user_another_worker_holds_comes_back_shortly(world: World) -> None:
    w = world
    w.leases.take(ASHA)
    (action,) = w.record(w.action("asha", "desk", True))
    countdown = w.run()
    assert countdown is not None and 0.3 <= countdown <= 1.0
    assert (w.get(action).status, w.sent()) == (Status.QUEUED, [])


def test_nothing_is_sent_once_the_lease_is_lost(world: World) -> None:
    w = world
    (action,) = w.record(w.action("asha", "desk", True))
    w.budget.before = lambda: w.leases.take(ASHA)  # expired and taken, while it waited
    assert w.run() == 0.0
    waiting = w.get(action)
    assert (waiting.status, waiting.retry_at, w.sent()) == (Status.QUEUED, T0, [])


# -- the request budget ---------------------------------------------------------------------------


def test_requests_wait_for_their_slot_on_the_contexts_clock(world: World) -> None:
    w = world
    w.roster = parse_roster(roster_yaml(w.sandbox.url, AGENTS, SHIFTS, rate_limit="1/s"))
    w.record(w.action("asha", "desk", False), w.action("asha", "mobile", False))
    w.ctx.rate_block = 2.0  # a slot this close is waited for in the thread
    assert w.run() is None
    # 1 s, a little wider (a window's margin, 10 ms of jitter): never one too many
    assert w.time.slept == [pytest.approx(1.12)]
    assert len(w.sent()) == 2


def test_a_slot_beyond_the_threads_wait_is_handed_to_the_task_that_comes_back(
    world: World,
) -> None:
    w = world
    w.roster = parse_roster(roster_yaml(w.sandbox.url, AGENTS, SHIFTS, rate_limit="1/s"))
    w.record(w.action("asha", "desk", False), w.action("asha", "mobile", False))
    countdown = w.run()  # the second slot is 1.12 s away: more than the thread waits
    assert countdown == pytest.approx(1.02)  # back 0.1 s before it
    assert len(w.sent()) == 1
    w.time.sleep(countdown)
    assert w.run() is None
    assert w.time.slept[-1] == pytest.approx(0.1)
    assert len(w.sent()) == 2 and len(w.budget.slots) == 2


def test_a_slot_far_away_is_reserved_and_its_task_comes_back_for_it_once(world: World) -> None:
    """No thread waits 30 s, and no task polls for the slot: it is reserved now, the action
    planned for it, and the one task that comes back (0.1 s early) takes it."""
    w = world
    (action,) = w.record(w.action("asha", "desk", True))
    w.budget.next_free[rate_bucket(action.base_url, action.sid)] = w.time.monotonic() + 30
    countdown = w.run()
    assert countdown == pytest.approx(29.9)
    waiting = w.get(action)
    assert (waiting.status, waiting.retry_at, waiting.attempts) == (
        Status.QUEUED, T0 + timedelta(seconds=29.9), 0
    )  # fmt: skip
    assert w.sent() == [] and len(w.budget.slots) == 1
    # Let go of at once: the user may be kept, and taken up by another thread.
    assert w.leases.released == [(action.user_key, False)]
    w.time.sleep(countdown)
    assert w.run() is None
    assert len(w.budget.slots) == 1  # the reserved slot, not a new one at the back
    # Done: handed to the next user of the message, if any.
    assert w.leases.released[-1] == (action.user_key, True)
    assert w.time.slept[-1] == pytest.approx(0.1)
    assert w.sent() == [("PUT", "100280", {"available": True})]
    assert w.time.now() == T0 + timedelta(seconds=30)


def test_a_slot_beyond_the_horizon_is_not_reserved_yet(world: World) -> None:
    w = world
    (action,) = w.record(w.action("asha", "desk", True))
    w.budget.next_free[rate_bucket(action.base_url, action.sid)] = w.time.monotonic() + 1000
    countdown = w.run()
    assert countdown is not None and 1000 - 0.9 * 300 <= countdown <= 1000 - 0.5 * 300
    assert w.budget.slots == [] and w.sent() == []


def test_a_slot_missed_is_given_up_for_a_new_one(world: World) -> None:
    """A task that comes back late (a busy worker) never sends on a slot long past: the next
    request of the account may be due then."""
    w = world
    (action,) = w.record(w.action("asha", "desk", True))
    w.budget.next_free[rate_bucket(action.base_url, action.sid)] = w.time.monotonic() + 30
    countdown = w.run()
    assert countdown is not None
    w.time.sleep(countdown + 5)  # 4 s past the slot
    assert w.run() is None
    assert len(w.budget.slots) == 2
    assert len(w.sent()) == 1


# -- unanswered requests: the device's state is unknown until it is read back -----------------


def read_backs(w: World) -> list[tuple[str, str, datetime, datetime, int | None]]:
    with w.store.sessions() as session:
        return [
            (r.user_id, r.device_id, r.since, r.due_at, r.action_id)
            for r in session.scalars(select(ReadBack).order_by(ReadBack.device_id))
        ]


def test_an_unanswered_put_makes_the_device_unknown_until_a_read_back(world: World) -> None:
    """The request may still land after whatever follows it: even the retry's success does not
    settle it; the device is to be read back once the first request can no longer land."""
    w = world
    (desk_on,) = w.record(w.action("asha", "desk", True))
    w.exotel.script = [LOST]  # sent; the answer never comes (the client gives up after 1 s)
    sent = w.time.now()
    w.drain()
    assert w.get(desk_on).status == Status.SUCCEEDED  # the retry was answered
    ((user_id, device_id, since, due, action_id),) = read_backs(w)
    assert (user_id, device_id, action_id) == ("u-100", "100280", desk_on.id)
    # "since": when the request left: the answer time less its 1 s (this clock stands still)
    assert since == sent - timedelta(seconds=1)
    assert due == since + timedelta(seconds=w.ctx.read_back_after)


def test_an_answered_failure_leaves_the_device_known(world: World) -> None:
    w = world
    w.record(w.action("asha", "desk", True))
    w.exotel.script = [answer(503, "Service Unavailable")]  # an answer: nothing was applied
    w.drain()
    assert read_backs(w) == []


def test_an_action_left_running_by_a_dead_worker_makes_its_device_unknown(world: World) -> None:
    """A worker killed between sending and recording the answer leaves the action running."""
    w = world
    (desk_on,) = w.record(w.action("asha", "desk", True))
    with w.store.sessions.begin() as session:
        session.execute(
            update(Action)
            .where(Action.id == desk_on.id)
            .values(status=Status.RUNNING, attempts=1, started_at=T0)
        )
    w.drain()
    assert w.get(desk_on).status == Status.SUCCEEDED
    ((_, device_id, since, due, _),) = read_backs(w)
    assert device_id == "100280"
    assert due == since + timedelta(seconds=w.ctx.read_back_after)


def test_a_later_unanswered_request_moves_the_read_back_on(world: World) -> None:
    w = world
    w.record(w.action("asha", "desk", True))
    w.exotel.script = [LOST]
    w.drain()
    (first,) = read_backs(w)
    w.time.advance(timedelta(seconds=10))
    w.record(w.action("asha", "desk", False, T0 + timedelta(seconds=5)))
    w.exotel.script = [LOST]
    w.drain()
    (second,) = read_backs(w)
    assert second[3] > first[3]
