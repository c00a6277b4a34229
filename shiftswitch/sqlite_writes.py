"""Writers of a SQLite file take turns (README: Configuration, ``DATABASE_URL``).

SQLite lets one connection write at a time. The others wait in its busy handler, which sleeps
1, 2, 5, 10 ... up to 100 ms between tries, whether or not the file came free in between. At a
boundary's first instant, the threads of four workers and the scheduler each writing a
millisecond's worth then waited up to a third of a second, and fifty accounts' first switches
with them. Here a process's writers queue on a lock of their own, and the processes on an
``flock`` of ``<file>-writer``: the next write goes as soon as the last has committed.

A connection takes the turn at its first write (an ``INSERT``, ``UPDATE``, ``DELETE`` or DDL
statement; reads and transaction control never wait for it) and lets go when SQLite's
transaction has ended: after the statement in autocommit mode (or a savepoint's release that
committed), at the commit, rollback or close otherwise (not at a commit that failed: the
transaction, and SQLite's lock, are still there). A thread already writing on one connection
is not made to wait for itself on another. A writer that has waited as long as SQLite would
have (the busy timeout) goes ahead without the turn until its transaction ends, to SQLite's
own waiting (so a write can wait up to twice the busy timeout behind a transaction held that
long): the turn only spares the sleeps, it guards nothing that SQLite does not. A folder
where the lock file cannot be made leaves the turns within each process; a child process
forked holds nothing of its parent's.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger("shiftswitch.db")

_READS = ("SELECT", "PRAGMA", "WITH", "EXPLAIN", "VALUES")
# Transaction control: SQLite takes no lock for them (a SAVEPOINT, a deferred BEGIN).
_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "END")
# Seconds between tries of another process's turn: from the first, doubling, up to the second
# (a write takes about a millisecond; SQLite's busy handler waits up to 100 ms).
POLL = (0.0002, 0.002)


class Writer:
    """The write turn of one SQLite file: held by one thread at a time in this process, for
    the connections (by ``id`` of their DBAPI connection) that thread is writing on; and by
    one process at a time, through an ``flock`` on ``lock_file`` (None: within the process
    only)."""

    def __init__(self, lock_file: Path | None = None) -> None:
        self._file = lock_file
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._writing: set[int] = set()  # the connections with the turn
        self._without: set[int] = set()  # ... and those that waited too long, gone ahead
        self._fd: int | None = None  # the lock file, open while this process has the turn

    def take(self, connection: int, wait: float) -> None:
        """Take the turn for ``connection`` (nothing if it has it, or its thread has it for
        another connection); after ``wait`` seconds, go on without it until the transaction
        ends (its next statements do not wait again)."""
        if connection in self._writing or connection in self._without:
            return
        me = threading.get_ident()
        if self._owner != me:
            deadline = time.monotonic() + wait
            if not self._lock.acquire(timeout=wait):
                self._without.add(connection)
                return
            try:
                self._flock(deadline)
            except BaseException:  # interrupted while waiting: the turn is not kept
                self._lock.release()
                raise
        self._owner = me
        self._writing.add(connection)

    def _flock(self, deadline: float) -> bool:
        """The other processes' turn: tried again and again (:data:`POLL`) until
        ``deadline``. The lock file is open only while the turn is held, so that a process
        that has used many databases (a test suite) keeps no descriptor for each."""
        if self._file is None:
            return False
        try:
            fd = _open(self._file)
        except OSError as exc:
            return self._alone(exc)
        try:
            pause = POLL[0]
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        return False
                    time.sleep(pause)
                    pause = min(POLL[1], pause * 2)
                    continue
                self._fd = fd
                return True
        except OSError as exc:
            os.close(fd)
            return self._alone(exc)
        except BaseException:
            os.close(fd)
            raise

    def _alone(self, exc: OSError) -> bool:
        """The lock file cannot be made or locked: turns within this process only."""
        log.warning(
            "%s: %s; writers of other processes meet SQLite's busy handler",
            self._file,
            exc.strerror or exc,
        )
        self._file = None
        return False

    def writing(self, connection: int) -> bool:
        """Whether ``connection`` is writing (with the turn, or gone ahead without it)."""
        return connection in self._writing or connection in self._without

    def let_go(self, connection: int) -> None:
        """``connection``'s transaction has ended: the next writer's turn, once none of the
        holder's connections is writing."""
        self._without.discard(connection)
        if connection not in self._writing:
            return
        self._writing.discard(connection)
        if self._writing:
            return
        self._owner = None
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # and the flock with it
        finally:
            self._lock.release()

    @property
    def held(self) -> bool:
        """Whether a thread of this process has the turn."""
        return self._lock.locked()

    def forget(self) -> None:
        """In a child process just forked: nothing of the parent's turn is the child's (its
        copy of the lock file's descriptor is closed; the parent's ``flock`` stays the
        parent's)."""
        if self._fd is not None:
            os.close(self._fd)
        self._reset()


def _open(file: Path) -> int:
    """The lock file's descriptor, made if need be (read-only will do: ``flock`` needs no
    more, and another user may have made it)."""
    try:
        return os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        return os.open(file, os.O_RDONLY)


class _Writers:
    """This process's :class:`Writer` of each file."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.by_file: dict[Path, Writer] = {}

    def forget_after_fork(self) -> None:
        self.guard = threading.Lock()  # another thread of the parent may have held it
        for writer in self.by_file.values():
            writer.forget()


_WRITERS = _Writers()


def writer_of(file: Path) -> Writer:
    """The one :class:`Writer` of ``file`` in this process (however its path is spelt)."""
    file = Path(os.path.abspath(file))
    with _WRITERS.guard:
        if file not in _WRITERS.by_file:
            _WRITERS.by_file[file] = Writer(file.with_name(file.name + "-writer"))
        return _WRITERS.by_file[file]


os.register_at_fork(after_in_child=_WRITERS.forget_after_fork)


def writes(statement: str) -> bool:
    """Whether ``statement`` may write (anything but a read or transaction control)."""
    return not statement.lstrip()[:9].upper().startswith(_READS + _CONTROL)


def _raw(connection: Any) -> Any:
    """The DBAPI connection, given it or the pool's proxy of it."""
    return getattr(connection, "dbapi_connection", None) or connection


def _key(connection: Any) -> int:
    """A DBAPI connection's key, given it or the pool's proxy of it."""
    return id(_raw(connection))


def serialize_writes(engine: Engine, file: Path, wait: float) -> None:
    """Make ``engine``'s connections to SQLite ``file`` take its :class:`Writer`'s turn to
    write, for up to ``wait`` seconds.

    The dialect's own methods are wrapped (each statement, and each transaction's end), not
    the engine's events: listening to every statement would turn on SQLAlchemy's event
    dispatch for every execution, about a tenth of a worker's turn in the database."""
    writer = writer_of(file)
    dialect = engine.dialect
    for name in ("do_execute", "do_execute_no_params", "do_executemany"):
        setattr(dialect, name, _taking_turns(writer, wait, getattr(dialect, name)))
    # The transaction's end, whoever ends it: a commit or a rollback (the pool's on a
    # connection given back too) that ended it, or the connection closed (invalidated).
    for name in ("do_commit", "do_rollback", "do_close"):
        end = getattr(dialect, name)
        setattr(dialect, name, _letting_go(writer, end, always=name == "do_close"))


def _taking_turns(writer: Writer, wait: float, execute: Callable[..., Any]) -> Callable[..., Any]:
    def executing(cursor: Any, statement: str, *args: Any) -> Any:
        key = _key(cursor.connection)
        if writes(statement):
            writer.take(key, wait)
        try:
            return execute(cursor, statement, *args)
        finally:
            if writer.writing(key) and not _in_transaction(cursor.connection):
                writer.let_go(key)  # autocommit, or a failed first write: the statement was it

    return executing


def _letting_go(
    writer: Writer, end: Callable[[Any], None], always: bool = False
) -> Callable[[Any], None]:
    def ended(dbapi_connection: Any) -> None:
        try:
            end(dbapi_connection)
        finally:
            # A commit that failed (a deferred constraint) leaves the transaction open, and
            # SQLite's write lock held: the turn stays until it ends.
            if always or not _in_transaction(dbapi_connection):
                writer.let_go(_key(dbapi_connection))

    return ended


def _in_transaction(dbapi_connection: Any) -> bool:
    """Whether a DBAPI connection (or the pool's proxy of it) is in a transaction; False when
    it is closed."""
    try:
        return bool(_raw(dbapi_connection).in_transaction)
    except Exception:  # closed: sqlite3.ProgrammingError
        return False
