"""Writers of one SQLite file take turns in shiftswitch (threads of a process, and processes)
instead of waiting in SQLite's busy handler; reads never wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from shiftswitch.db import autocommit_engine, make_engine
from shiftswitch.sqlite_writes import Writer, writer_of, writes

HELD_WINDOW = 0.3  # seconds a second writer is given to go ahead wrongly


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    file = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{file}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield engine, file
    engine.dispose()


def _issued(engine: Engine) -> list[tuple[str, float]]:
    """Each INSERT as SQLite runs it (its trace, on the connections made from now on): its
    text, and when."""
    seen: list[tuple[str, float]] = []

    def trace(statement: str) -> None:
        if statement.startswith("INSERT"):
            seen.append((statement, time.monotonic()))

    engine.dispose()
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(trace))
    return seen


def test_a_second_writer_waits_for_the_first_to_commit_before_sqlite_sees_it(
    db: tuple[Engine, Path],
) -> None:
    engine, _file = db
    issued = _issued(engine)
    wrote, commit = threading.Event(), threading.Event()
    committing: list[float] = []  # when the first writer went on to commit

    def first() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            wrote.set()
            commit.wait(10)
            committing.append(time.monotonic())

    def second() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")

    a = threading.Thread(target=first)
    a.start()
    assert wrote.wait(10)
    b = threading.Thread(target=second)
    b.start()
    b.join(HELD_WINDOW)
    assert b.is_alive() and [s for s, _ in issued] == ["INSERT INTO t VALUES (1)"]
    commit.set()
    a.join(10)
    b.join(10)
    assert [s for s, _ in issued][1:] == ["INSERT INTO t VALUES (2)"]
    assert issued[1][1] >= committing[0]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2


def test_the_turn_is_held_from_the_first_write_to_the_transactions_end(
    db: tuple[Engine, Path],
) -> None:
    engine, file = db
    writer = writer_of(file)
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
        assert not writer.held  # reads never take it
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert writer.held
    assert not writer.held  # committed
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        assert writer.held
        conn.rollback()
        assert not writer.held
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (3)")
    assert not writer.held  # given back to the pool: rolled back
    with pytest.raises(Exception, match="no such table"), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO missing VALUES (1)")
    assert not writer.held  # a failed write


def test_a_write_in_autocommit_mode_lets_go_after_its_statement(db: tuple[Engine, Path]) -> None:
    engine, file = db
    writer = writer_of(file)
    autocommitting = autocommit_engine(engine)
    assert autocommitting is not None
    try:
        with autocommitting.connect() as conn:
            conn.exec_driver_sql("UPDATE t SET x = 1")
            assert not writer.held
            with pytest.raises(Exception, match="no such table"):
                conn.exec_driver_sql("DELETE FROM missing")
            assert not writer.held
    finally:
        autocommitting.dispose()


def test_a_thread_writing_on_two_connections_does_not_wait_for_itself() -> None:
    writer = Writer()
    writer.take(1, wait=5)
    started = time.monotonic()
    writer.take(2, wait=5)
    assert time.monotonic() - started < 1
    writer.let_go(1)
    assert writer.held  # connection 2 still writes
    writer.let_go(2)
    assert not writer.held


def test_a_writer_kept_waiting_past_its_wait_goes_ahead_without_the_turn() -> None:
    """As SQLite's busy timeout would end the wait (then SQLite's own busy handler decides)."""
    writer = Writer()
    writer.take(1, wait=5)
    went: list[float] = []

    def other() -> None:
        started = time.monotonic()
        writer.take(2, wait=0.1)
        went.append(time.monotonic() - started)
        writer.let_go(2)  # it never had the turn: nothing to give back

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert went and 0.1 <= went[0] < 5
    assert writer.held  # still the first connection's
    writer.let_go(1)
    assert not writer.held


def test_statements_that_write() -> None:
    assert writes("INSERT INTO t VALUES (1)") and writes("  update t set x = 1")
    assert writes("DELETE FROM t") and writes("CREATE TABLE u (x INTEGER)")
    assert not writes("SELECT 1") and not writes("pragma journal_mode") and not writes("WITH a AS")


_OTHER_PROCESS = """
import sys
from shiftswitch.db import make_engine
engine = make_engine(sys.argv[1])
with engine.begin() as conn:
    conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    print("wrote", flush=True)
    sys.stdin.readline()
    import time
    print(time.monotonic(), flush=True)  # then commits
"""


def test_writers_of_two_processes_take_turns(db: tuple[Engine, Path]) -> None:
    """Another process's write transaction holds the file's turn (an ``flock`` on
    ``<file>-writer``): this process's writer reaches SQLite only once it has committed."""
    engine, file = db
    issued = _issued(engine)
    other = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, f"sqlite:///{file}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline().strip() == "wrote"
        assert (file.parent / "w.db-writer").exists()

        def mine() -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")

        thread = threading.Thread(target=mine)
        thread.start()
        thread.join(HELD_WINDOW)
        assert thread.is_alive() and issued == []
        other.stdin.write("\n")
        other.stdin.flush()
        committing = float(other.stdout.readline())
        thread.join(10)
        assert len(issued) == 1 and issued[0][1] >= committing
    finally:
        other.kill()
        other.wait(10)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
