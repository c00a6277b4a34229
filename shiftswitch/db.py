"""Database engine and migrations.

SQLite is the embedded default and must bear the scheduler and a multi-threaded worker writing
at once: every connection gets WAL mode and a busy timeout, and transactions are kept short.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.schema import Table

from shiftswitch.sqlite_writes import serialize_writes

SQLITE_BUSY_TIMEOUT_MS = 30_000


USE = "use postgresql+psycopg://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH"


class BadDatabaseUrl(ValueError):
    """``DATABASE_URL`` names no database shiftswitch can open; the message says why and the
    fix, without the URL (it may hold a password)."""


def database_url(url: str) -> URL:
    """``url`` read; :class:`BadDatabaseUrl` when it is not a database URL."""
    try:
        return make_url(url)
    except ArgumentError:
        raise BadDatabaseUrl(f"DATABASE_URL is not a database URL; {USE}") from None
    except ValueError:  # a port that is not a number
        raise BadDatabaseUrl(f"DATABASE_URL's port is not a number; {USE}") from None


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite, with WAL, a busy timeout and foreign keys on.
    :class:`BadDatabaseUrl` when ``url`` names no database, or one whose driver is missing."""
    parts = database_url(url)
    try:
        if parts.get_backend_name() == "sqlite":
            kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            engine = create_engine(parts, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            if (file := sqlite_file(parts)) is not None:
                serialize_writes(engine, file, SQLITE_BUSY_TIMEOUT_MS / 1000)
            return engine
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parts, **kwargs)
    except NoSuchModuleError:
        raise BadDatabaseUrl(
            f"DATABASE_URL names {parts.drivername!r}, no database shiftswitch can use; {USE}"
        ) from None
    except ModuleNotFoundError as exc:
        raise BadDatabaseUrl(
            f"DATABASE_URL names {parts.drivername!r}, whose driver ({exc.name}) is not "
            f"installed; {USE}"
        ) from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def first_line(exc: BaseException) -> str:
    """A database error in one line: the driver's message, without SQLAlchemy's SQL and links."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def alembic_config(url: str) -> Config:
    """Alembic configured from code: the migrations package and the given database URL."""
    config = Config()
    config.set_main_option("script_location", _scripts())
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _scripts() -> str:
    """The folder of the migration scripts (the ``migrations`` package), found without importing
    it: they are Alembic's to run (its ``env.py`` imports this module), not this module's."""
    spec = importlib.util.find_spec("migrations")
    assert spec is not None and spec.origin is not None, "the migrations package is missing"
    return str(Path(spec.origin).parent)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


@dataclass(frozen=True, slots=True)
class Revisions:
    """Where a database's schema is, against the migrations of this release."""

    current: str | None  # None: never migrated (or empty)
    head: str  # the newest revision this release has
    known: bool  # whether this release has ``current`` (a newer release may have migrated it)

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def revisions(url: str) -> Revisions:
    """The revision the database at ``url`` is at, and this release's newest; raises
    :class:`sqlalchemy.exc.SQLAlchemyError` when the database cannot be read."""
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    assert head is not None, "no migrations"
    engine = make_engine(url, pool_pre_ping=False)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    try:
        known = current is None or scripts.get_revision(current) is not None
    except CommandError:
        known = False
    return Revisions(current, head, known)


def sqlite_file(parts: URL) -> Path | None:
    """The file a SQLite URL opens, as SQLite resolves it (``file:`` URIs with ``uri=true``
    included); None for a database in memory or another database."""
    database = parts.database if parts.get_backend_name() == "sqlite" else None
    if not database:
        return None
    if parts.query.get("uri") == "true" and database.startswith("file:"):
        if parts.query.get("mode") == "memory":
            return None
        database = unquote(database.removeprefix("file:").split("?", 1)[0])
        database = database.removeprefix("//localhost").removeprefix("//")
    if not database or ":memory:" in database:
        return None
    return Path(os.path.normpath(database))


def missing_file(url: str) -> bool:
    """Whether ``url`` is a SQLite file that does not exist (connecting would create it)."""
    file = sqlite_file(database_url(url))
    return file is not None and not file.exists()


class NoDatabase(BadDatabaseUrl):
    """``DATABASE_URL`` names a SQLite file that does not exist: connecting would create an
    empty one, with no tables."""


def no_such_file(where: str) -> str:
    """What is said of a SQLite file that does not exist (``where``: its URL, as shown)."""
    return f"{where}: no such file: run 'shiftswitch db upgrade'"


def refuse_missing_file(engine: Engine) -> None:
    """Make connecting to ``engine``'s SQLite file raise :class:`NoDatabase` while the file
    does not exist, instead of creating it empty (checked at each new connection: once
    ``db upgrade`` has made it, connections go ahead). Nothing for another database."""
    file = sqlite_file(engine.url)
    if file is None:
        return
    where = engine.url.render_as_string(hide_password=True)

    def refuse(*_: Any) -> None:
        if not file.exists():
            raise NoDatabase(f"{no_such_file(where)} first")

    event.listen(engine, "do_connect", refuse)


def redacted(url: str) -> str:
    """``url`` as it may be shown: without its password."""
    return database_url(url).render_as_string(hide_password=True)


class Database:
    """Sessions on one engine: ORM sessions, and connections and sessions in autocommit mode
    for reads and single-statement writes (no BEGIN and COMMIT round trips on PostgreSQL where
    one statement needs no transaction around it). What every store is built on."""

    def __init__(self, engine: Engine, autocommitting: Engine | None = None) -> None:
        """``autocommitting``: an engine whose connections are in autocommit mode from the
        start (:func:`autocommit_engine`), for a process that reads in autocommit mode often;
        by default ``engine``'s own connections, switched at each checkout."""
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.autocommitting = autocommitting or engine.execution_options(
            isolation_level="AUTOCOMMIT"
        )
        self.autocommit = sessionmaker(self.autocommitting, expire_on_commit=False)


def autocommit_engine(engine: Engine, **kwargs: Any) -> Engine | None:
    """For SQLite, an engine of its own on ``engine``'s database whose connections are in
    autocommit mode from the start (``kwargs``: its pool's); None for another database.

    Switching a pooled SQLite connection to autocommit and back runs a PRAGMA each way at
    every checkout: a worker's turn in the database took 1.2 ms of CPU with it, 0.74 ms on a
    pool of its own (``benchmarks/bench_turn.py``). PostgreSQL switches on the client alone
    (0.1 ms a turn), and its connections are the server's to count: there, and for a database
    in memory (which a second engine would not share), one pool serves both."""
    if sqlite_file(engine.url) is None:
        return None
    url = engine.url.render_as_string(hide_password=False)
    return make_engine(url, isolation_level="AUTOCOMMIT", **kwargs)


CHUNK = 500  # rows per statement: well under SQLite's bound-parameter limit
T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterable[Sequence[T]]:
    """``items`` in lists of ``size`` (the last shorter): one statement each."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def upsert(engine: Engine | Connection, table: Table | Any) -> Any:
    """An INSERT that can say ON CONFLICT, in the engine's dialect (SQLite or PostgreSQL)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
