"""Writers of one SQLite file take turns in shiftswitch (threads of a process, and processes)
instead of waiting in SQLite's busy handler; reads never wait."""

from __future__ import annotations

import os
import select
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


@pytest.fixture
def turns(db: tuple[Engine, Path]) -> tuple[Engine, Writer]:
    """The engine, and the turn of its file."""
    return db[0], writer_of(db[1])


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
    turns: tuple[Engine, Writer],
) -> None:
    engine, writer = turns
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


def _lock_files_open() -> int:
    """This process's descriptors open on a ``-writer`` lock file."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd).endswith("-writer"))


def test_the_lock_file_is_open_only_while_the_turn_is_held(db: tuple[Engine, Path]) -> None:
    """A process that has written to many databases (a test suite) keeps no descriptor for
    each."""
    engine, _file = db
    before = _lock_files_open()
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert _lock_files_open() == before + 1
    assert _lock_files_open() == before


def test_a_write_in_autocommit_mode_lets_go_after_its_statement(db: tuple[Engine, Path]) -> None:
    engine, file = db
    writer = writer_of(file)
    autocommitting = autocommit_engine(engine)
    assert autocommitting is not None
    during: list[bool] = []
    event.listen(
        autocommitting,
        "connect",
        lambda dbapi, _record: dbapi.set_trace_callback(lambda _sql: during.append(writer.held)),
    )
    try:
        with autocommitting.connect() as conn:
            conn.exec_driver_sql("UPDATE t SET x = 1")
            assert during[-1] and not writer.held  # held while SQLite ran it, then let go
            with pytest.raises(Exception, match="no such table"):
                conn.exec_driver_sql("DELETE FROM missing")
            assert not writer.held
    finally:
        autocommitting.dispose()


def test_a_commit_that_fails_keeps_the_turn_until_the_transaction_ends(tmp_path: Path) -> None:
    """A deferred constraint fails at the commit: the transaction, and SQLite's write lock,
    stay until the rollback, and so does the turn."""
    file = tmp_path / "fk.db"
    engine = make_engine(f"sqlite:///{file}")
    writer = writer_of(file)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql(
                "CREATE TABLE child (parent INTEGER "
                "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
            )
        with engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO child VALUES (7)")
            with pytest.raises(Exception, match="FOREIGN KEY"):
                conn.commit()
            assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
            assert writer.held
            engine.dialect.do_rollback(conn.connection)  # as the pool resets a connection
            assert not writer.held
    finally:
        engine.dispose()


def test_a_savepoint_takes_no_turn_and_its_release_may_end_the_transaction(
    turns: tuple[Engine, Writer],
) -> None:
    engine, writer = turns
    with engine.connect() as conn:
        with conn.begin_nested():
            conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
            assert not writer.held
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            assert writer.held
        # The driver began no transaction of its own: the savepoint began SQLite's, and its
        # release committed it. The turn goes with it.
        assert not conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        assert not writer.held


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
    """As SQLite's busy timeout would end the wait (then SQLite's own busy handler decides);
    and its transaction's next statements do not wait again, for a turn a third writer may
    have taken meanwhile, and hold while it waits in SQLite for this transaction to end."""
    writer = Writer()
    writer.take(1, wait=5)
    went: list[float] = []
    seen: list[bool] = []
    third_has_it, done = threading.Event(), threading.Event()

    def second() -> None:
        started = time.monotonic()
        writer.take(2, wait=0.1)
        went.append(time.monotonic() - started)
        writer.let_go(1)  # the first transaction ends meanwhile
        assert third_has_it.wait(10)
        started = time.monotonic()
        writer.take(2, wait=5)  # the same transaction's next statement: at once
        went.append(time.monotonic() - started)
        seen.append(writer.writing(2))
        writer.let_go(2)  # it never had the turn: nothing to give back
        seen.append(not writer.writing(2) and writer.held)  # the third's still

    def third() -> None:
        writer.take(9, wait=5)
        third_has_it.set()
        done.wait(10)
        writer.let_go(9)

    threads = [threading.Thread(target=second), threading.Thread(target=third)]
    threads[0].start()
    deadline = time.monotonic() + 10
    while not went and time.monotonic() < deadline:  # until the second has given up waiting
        time.sleep(0.01)
    threads[1].start()
    threads[0].join(20)
    done.set()
    threads[1].join(10)
    assert len(went) == 2 and 0.1 <= went[0] < 5 and went[1] < 1
    assert seen == [True, True] and not writer.held


def test_a_wait_interrupted_gives_the_turn_back(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = Writer()

    def interrupted(_deadline: float) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_flock", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.take(1, wait=5)
    assert not writer.held and not writer.writing(1)


def test_a_forked_child_holds_nothing_of_its_parents_turn(tmp_path: Path) -> None:
    """The parent holds the turn, and the other processes' ``flock``: the child starts with
    neither, and cannot take the file's turn from under its parent."""
    writer = writer_of(tmp_path / "x.db")
    writer.take(1, wait=5)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's code, reported by its exit code
        code = 1
        try:
            if not writer.held:
                started = time.monotonic()
                writer.take(2, wait=0.2)  # the parent's flock is not the child's to share
                code = 0 if time.monotonic() - started >= 0.19 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert writer.held
    writer.let_go(1)


def test_statements_that_write() -> None:
    assert writes("INSERT INTO t VALUES (1)") and writes("  update t set x = 1")
    assert writes("DELETE FROM t") and writes("CREATE TABLE u (x INTEGER)")
    assert not writes("SELECT 1") and not writes("pragma journal_mode") and not writes("WITH a AS")
    assert not writes("SAVEPOINT sa_1") and not writes("RELEASE SAVEPOINT sa_1")
    assert not writes("BEGIN") and not writes("COMMIT") and not writes("ROLLBACK TO sa_1")


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


def _line(process: subprocess.Popen[str], timeout: float) -> str:
    """The next line ``process`` prints, within ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"no line from the other process within {timeout} s"
    return process.stdout.readline().strip()


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
        assert _line(other, 30) == "wrote"
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
        committing = float(_line(other, 30))
        thread.join(10)
        assert len(issued) == 1 and issued[0][1] >= committing
    finally:
        other.kill()
        other.wait(10)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
