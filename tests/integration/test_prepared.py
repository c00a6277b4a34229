"""The worker's prepared statements (shiftswitch/prepared.py) against SQLAlchemy's own
execution of the same statements, on SQLite and PostgreSQL: the same values in and out, the
same errors, a dead connection replaced, SQLite's writers still taking turns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from shiftswitch.actions import ActionStore, NewAction, user_key_of
from shiftswitch.db import autocommit_engine, make_engine
from shiftswitch.models import Action, Source, Status, action_of
from shiftswitch.outcomes import _INSERT_ATTEMPT, _START, ATTEMPTS
from shiftswitch.prepared import Prepared
from shiftswitch.turns import _NEXT, _check_params, _checks

DUE = datetime(2026, 11, 30, 9, 0, 0, 250_000, tzinfo=UTC)
OWNER = user_key_of("main", "u1", "asha")


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
        action = action_of(row)
        for switch, on, by_name in [(True, True, True), (True, False, False), (False, False, True)]:
            checks = _checks(switch, on, by_name)
            given = checks.rows(conn, _check_params(action))
            assert given == [tuple(conn.execute(checks.statement, _check_params(action)).one())]
        assert _NEXT.first(conn, {"owner": "nobody"}) is None


def test_writes_return_and_store_what_sqlalchemy_would(engine: Engine) -> None:
    with _autocommitting(engine).connect() as conn:
        action = _first(conn)
        assert _START.rows(conn, {"action_id": action.id, "now": DUE}) == [(1,)]
        assert _START.rows(conn, {"action_id": action.id, "now": DUE}) == [(2,)]
        assert _START.rows(conn, {"action_id": -1, "now": DUE}) == []
    row = {
        "action_id": action.id, "number": 1, "request": "PUT available=true", "at": DUE,
        "duration_ms": 51.5, "http_code": 200, "outcome": "ok", "error_code": None,
        "error": None, "retry_delay": None, "request_id": "r-1",
    }  # fmt: skip
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
    row = {"action_id": action.id, "number": 1, "request": "PUT", "at": DUE, "duration_ms": 1.0,
           "outcome": "ok"}  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as conn:  # (action_id, number): unique
        _INSERT_ATTEMPT.run(conn, row)
        _INSERT_ATTEMPT.run(conn, row)
    with engine.connect() as conn:  # rolled back, as a whole
        count = select(ATTEMPTS.c.id).where(ATTEMPTS.c.action_id == action.id)
        assert conn.execute(count).all() == []


def test_a_connection_killed_under_it_is_replaced(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_pre_ping=False, pool_size=1)
    pid = Prepared(select(func.pg_backend_pid()))
    try:
        with engine.connect() as conn:
            first = pid.rows(conn, {})[0][0]
        with make_engine(postgres_url).connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        with engine.connect() as conn, pytest.raises(DBAPIError) as raised:
            pid.rows(conn, {})
        assert raised.value.connection_invalidated
        with engine.connect() as conn:  # the pool opened another
            assert pid.rows(conn, {})[0][0] != first
    finally:
        engine.dispose()


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
    mark = Prepared(text("UPDATE actions SET reason = :reason").bindparams(bindparam("reason")))
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
