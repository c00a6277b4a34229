"""The worker's prepared statements (shiftswitch/prepared.py) against SQLAlchemy's own
execution of the same statements, on SQLite and PostgreSQL: the same values in and out, the
same errors, a dead connection replaced, SQLite's writers still taking turns."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, func, select, text, update
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from shiftswitch.actions import ActionStore, NewAction, user_key_of
from shiftswitch.db import autocommit_engine, make_engine
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.models import Action, Source, Status, action_of
from shiftswitch.outcomes import _INSERT_ATTEMPT, _START, ACTIONS, ATTEMPTS, attempt_row
from shiftswitch.prepared import Prepared
from shiftswitch.turns import _NEXT, _check_params, _checks

DUE = datetime(2026, 11, 30, 9, 0, 0, 250_000, tzinfo=UTC)
OWNER = user_key_of("main", "u1", "asha")
OK = Outcome(Kind.OK, 200, None, None, "r-1", None, 0.0515)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_pre_ping=False)  # as the worker makes it
    ActionStore(engine).record(
        [
            NewAction(
                key=f"k{i}",
                source=Source.SCHEDULE,
                user_key=OWNER,
                account="main",
                sid="acme",
                base_url="http://127.0.0.1:9",
                rate_limit="60/min",
                agent="asha",
                device="desk",
                user_id="u1",
                device_id="d1",
                contact_uri=None,
                wants_on=on,
                due_at=DUE + timedelta(hours=i),
            )
            for i, on in enumerate((True, False))
        ],
        DUE,
    )
    yield engine
    engine.dispose()


def _autocommitting(engine: Engine) -> Engine:
    return autocommit_engine(engine) or engine.execution_options(isolation_level="AUTOCOMMIT")


def _attempt(action: Action) -> dict[str, Any]:
    return attempt_row(action, 1, "PUT available=true", DUE, OK)


def _first(conn: Connection) -> Action:
    row = _NEXT.first(conn, {"owner": OWNER})
    assert row is not None
    return action_of(row)


def test_reads_give_what_sqlalchemy_gives(engine: Engine) -> None:
    with _autocommitting(engine).connect() as conn:
        row = _NEXT.first(conn, {"owner": OWNER})
        expected = conn.execute(_NEXT.statement, {"owner": OWNER}).one()._asdict()
        assert row == expected
        assert row is not None and row["due_at"] == DUE and row["due_at"].tzinfo is not None
        assert row["wants_on"] is True and row["status"] == Status.PENDING
        assert row["user_key"] == OWNER and row["contact_uri"] is None
        action = action_of(row)  # an ON, with an OFF of its device after it
        found = set()
        for switch, on, by_name in itertools.product((True, False), repeat=3):
            checks = _checks(switch, on and switch, by_name)
            given = checks.rows(conn, _check_params(action))
            assert given == [tuple(conn.execute(checks.statement, _check_params(action)).one())]
            found.add(given[0][0])
        assert len(found) == 2  # the later switch found (and None where it is not looked for)
        assert _NEXT.first(conn, {"owner": "nobody"}) is None


def test_writes_return_and_store_what_sqlalchemy_would(engine: Engine) -> None:
    with _autocommitting(engine).connect() as conn:
        action = _first(conn)
        assert _START.rows(conn, {"action_id": action.id, "now": DUE}) == [(1,)]
        assert _START.rows(conn, {"action_id": action.id, "now": DUE}) == [(2,)]
        assert _START.rows(conn, {"action_id": -1, "now": DUE}) == []
    row = _attempt(action)
    with engine.begin() as conn:
        _INSERT_ATTEMPT.run(conn, row)
    with engine.connect() as conn:
        stored = conn.execute(select(ATTEMPTS).where(ATTEMPTS.c.action_id == action.id)).one()
        assert {k: v for k, v in stored._asdict().items() if k != "id"} == row
        started = conn.execute(
            text("SELECT status, attempts FROM actions WHERE id = :id"), {"id": action.id}
        ).one()
        assert tuple(started) == (Status.RUNNING, 2)


def test_a_database_error_is_sqlalchemys_and_leaves_the_transaction_to_its_owner(
    engine: Engine,
) -> None:
    with _autocommitting(engine).connect() as conn:
        action = _first(conn)
    row = _attempt(action)
    with pytest.raises(IntegrityError), engine.begin() as conn:  # (action_id, number): unique
        _INSERT_ATTEMPT.run(conn, row)
        _INSERT_ATTEMPT.run(conn, row)
    with engine.connect() as conn:  # rolled back, as a whole
        count = select(ATTEMPTS.c.id).where(ATTEMPTS.c.action_id == action.id)
        assert conn.execute(count).all() == []


def test_connections_killed_under_it_are_replaced_after_one_failure(postgres_url: str) -> None:
    """A server restart closes every connection of the pool: the first statement to find its
    connection dead invalidates the whole pool, as SQLAlchemy's own execution does, so one
    turn fails, not one for each pooled connection (the worker pings none)."""
    engine = make_engine(postgres_url, pool_pre_ping=False, pool_size=4, max_overflow=0)
    pid = Prepared(select(func.pg_backend_pid()))
    try:
        held = [engine.connect() for _ in range(4)]
        pids = [pid.rows(conn, {})[0][0] for conn in held]
        for conn in held:
            conn.close()
        with make_engine(postgres_url).connect() as other:
            for backend in pids:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        failures = 0
        for _ in range(6):
            try:
                with engine.connect() as conn:
                    assert pid.rows(conn, {})[0][0] not in pids
            except DBAPIError as exc:
                assert exc.connection_invalidated
                failures += 1
        assert failures == 1
    finally:
        engine.dispose()


def test_a_missing_parameter_is_refused_and_a_plain_connection_begins(engine: Engine) -> None:
    with _autocommitting(engine).connect() as conn:
        action = _first(conn)
        with pytest.raises(ArgumentError, match="'now'"):
            _START.rows(conn, {"action_id": action.id})
    with engine.connect() as conn:  # no transaction begun: one is, as SQLAlchemy would
        assert _START.rows(conn, {"action_id": action.id, "now": DUE}) == [(1,)]
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(select(ACTIONS.c.attempts).where(ACTIONS.c.id == action.id)).one() == (
            1,
        )
    with pytest.raises(TypeError):
        Prepared(text("SELECT 1"))


def test_sqlites_writers_still_take_turns(sqlite_url: str) -> None:
    """A prepared write reaches SQLite only once another connection's write transaction has
    ended (seen through SQLite's trace of the statements it runs), not in its busy handler."""
    engine = make_engine(sqlite_url)
    autocommitting = _autocommitting(engine)
    issued: list[float] = []

    def trace(statement: str) -> None:
        if "'second'" in statement:
            issued.append(time.monotonic())

    event.listen(autocommitting, "connect", lambda dbapi, _: dbapi.set_trace_callback(trace))
    mark = Prepared(update(ACTIONS).values(reason=bindparam("reason")))
    writing = threading.Event()
    ended: list[float] = []

    def other_writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE actions SET reason = 'first'"))
            writing.set()
            time.sleep(0.3)  # holding the turn
            ended.append(time.monotonic())

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert writing.wait(10)
        with autocommitting.connect() as conn:
            mark.run(conn, {"reason": "second"})
        thread.join(10)
        assert ended and issued and issued[0] >= ended[0]
    finally:
        thread.join(10)
        autocommitting.dispose()
        engine.dispose()
