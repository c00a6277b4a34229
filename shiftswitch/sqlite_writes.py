"""Writers of a SQLite file take turns (README: Configuration, ``DATABASE_URL``).

SQLite lets one connection write at a time. The others wait in its busy handler, which sleeps
1, 2, 5, 10 ... up to 100 ms between tries, whether or not the file came free in between. At a
boundary's first instant, the threads of four workers and the scheduler each writing a
millisecond's worth then waited up to a third of a second, and fifty accounts' first switches
with them. Here a process's writers queue on a lock of their own, and the processes on an
``flock`` of ``<file>-writer``: the next write goes as soon as the last has committed.

A connection takes the turn at its first write (an ``INSERT``, ``UPDATE``, ``DELETE`` or DDL
statement; reads never wait for it) and lets go when its transaction ends: after the statement
in autocommit mode, at the commit, rollback or close otherwise. A thread already writing on one
connection is not made to wait for itself on another. A writer that has waited as long as
SQLite would have (the busy timeout) goes ahead without the turn, to SQLite's own waiting: the
turn only spares the sleeps, it guards nothing that SQLite does not. A folder where the lock
file cannot be made leaves the turns within each process.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

_READS = ("SELECT", "PRAGMA", "WITH", "EXPLAIN", "VALUES")
POLL = 0.0005  # seconds between tries of another process's turn


class Writer:
    """The write turn of one SQLite file: held by one thread at a time in this process, for
    the connections (by ``id`` of their DBAPI connection) that thread is writing on; and by
    one process at a time, through an ``flock`` on ``lock_file`` (None: within the process
    only)."""

    def __init__(self, lock_file: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._writing: set[int] = set()
        self._file = lock_file
        self._fd: int | None = None
        self._flocked = False

    def take(self, connection: int, wait: float) -> None:
        """Take the turn for ``connection`` (nothing if it has it, or its thread has it for
        another connection); after ``wait`` seconds, go on without it."""
        if connection in self._writing:
            return
        me = threading.get_ident()
        if self._owner != me:
            deadline = time.monotonic() + wait
            if not self._lock.acquire(timeout=wait):
                return
            self._flocked = self._flock(deadline)
        self._owner = me
        self._writing.add(connection)

    def _flock(self, deadline: float) -> bool:
        """The other processes' turn: tried every :data:`POLL` s until ``deadline`` (SQLite's
        busy handler waits far longer between tries)."""
        if self._file is None:
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self._file, os.O_RDWR | os.O_CREAT, 0o644)
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(POLL)
        except OSError:  # cannot make or lock the file (a read-only folder): this process only
            self._file = None
            return False

    def let_go(self, connection: int) -> None:
        """``connection``'s transaction has ended: the next writer's turn, once none of the
        holder's connections is writing."""
        if connection not in self._writing:
            return
        self._writing.discard(connection)
        if not self._writing:
            self._owner = None
            if self._flocked and self._fd is not None:
                self._flocked = False
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()

    @property
    def held(self) -> bool:
        """Whether a thread of this process has the turn."""
        return self._lock.locked()


_WRITERS: dict[Path, Writer] = {}
_GUARD = threading.Lock()


def writer_of(file: Path) -> Writer:
    """The one :class:`Writer` of ``file`` in this process."""
    with _GUARD:
        if file not in _WRITERS:
            _WRITERS[file] = Writer(file.with_name(file.name + "-writer"))
        return _WRITERS[file]


def writes(statement: str) -> bool:
    """Whether ``statement`` may write (anything but a read)."""
    return not statement.lstrip().upper().startswith(_READS)


def _key(connection: Any) -> int:
    """A DBAPI connection's key, given it or the pool's proxy of it."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def serialize_writes(engine: Engine, file: Path, wait: float) -> None:
    """Make ``engine``'s connections to SQLite ``file`` take its :class:`Writer`'s turn to
    write, for up to ``wait`` seconds."""
    writer = writer_of(file)
    dialect = engine.dialect

    def before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if writes(statement):
            writer.take(_key(cursor.connection), wait)

    def after(_conn: Any, cursor: Any, *_args: Any) -> None:
        if not _in_transaction(cursor.connection):  # autocommit: the statement was it
            writer.let_go(_key(cursor.connection))

    def failed(context: Any) -> None:
        proxy = getattr(context.connection, "connection", None)
        dbapi = getattr(proxy, "dbapi_connection", None)
        if dbapi is not None and not _in_transaction(dbapi):
            writer.let_go(_key(dbapi))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)
    # The transaction's end, whoever ends it: a commit, a rollback (the pool's on a connection
    # given back too), or the connection closed (invalidated after an error).
    for name in ("do_commit", "do_rollback", "do_close"):
        setattr(dialect, name, _letting_go(writer, getattr(dialect, name)))


def _letting_go(writer: Writer, end: Callable[[Any], None]) -> Callable[[Any], None]:
    def ended(dbapi_connection: Any) -> None:
        try:
            end(dbapi_connection)
        finally:
            writer.let_go(_key(dbapi_connection))

    return ended


def _in_transaction(dbapi_connection: Any) -> bool:
    """Whether a DBAPI connection is in a transaction; False when it is closed."""
    try:
        return bool(dbapi_connection.in_transaction)
    except Exception:  # closed: sqlite3.ProgrammingError
        return False
