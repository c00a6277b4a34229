"""The services tests run against: where they are, and databases of a test's own on them.

Redis databases are shared out by number, so that tests never flush each other's: 1-11 for
pipelines (the first for the shared worker's, the others in turn), 12 to 14 for the
coordination tests, 15 for the demo. When pytest-xdist runs the tests in several processes,
each process takes its own share of 1-11 and its own of 12-14 (so at most three processes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from shiftswitch.db import make_engine, upgrade
from shiftswitch.schema import METADATA

REDIS_SERVER = os.environ.get("SHIFTSWITCH_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/")
_PROCESS = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
_PROCESSES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
SHARED_WORKER_REDIS_DB, *PIPELINE_REDIS_DBS = range(1, 12)[_PROCESS::_PROCESSES]
COORDINATION_REDIS_DB = 12 + _PROCESS
DEMO_REDIS_DB = 15
if COORDINATION_REDIS_DB >= DEMO_REDIS_DB:
    raise RuntimeError("the tests' Redis databases serve three processes at most (pytest -n 3)")
POSTGRES_ADMIN_URL = os.environ.get(
    "SHIFTSWITCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def redis_url(db: int) -> str:
    return f"{REDIS_SERVER}/{db}"


class RedisServer:
    """A ``redis-server`` of a test's own on ``port`` (no persistence), to stop and start
    again: Redis going away under a running process, and coming back."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except RedisError:
                pass
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Postgres:
    """Databases of the tests' own on the PostgreSQL server, each with a name of its own."""

    def __init__(self) -> None:
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def create(self) -> str:
        """A new, empty database: its URL. Skips the test (outside CI) without a server."""
        name = f"shiftswitch_test_{uuid.uuid4().hex[:12]}"
        try:
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except OperationalError as exc:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc.orig}")
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.admin.dispose()


class MigratedPostgres:
    """One database migrated once, put back as the migrations left it before each test.

    Creating, migrating and dropping a PostgreSQL database costs one to three seconds (each
    is a checkpoint); emptying the tables of one costs milliseconds and leaves the same start:
    the newest schema, the rows the migrations wrote (the edit counters) and no other, every
    id counting from 1. Tests that change the schema take a database of their own
    (``bare_postgres_url``).
    """

    def __init__(self, server: Postgres) -> None:
        self.url = server.create()
        upgrade(self.url)
        self.engine: Engine = make_engine(self.url)
        with self.engine.connect() as conn:
            self._sequences = list(
                conn.execute(text("SELECT sequence_name FROM information_schema.sequences"))
                .scalars()
                .all()
            )
            self._seeded = {
                table: [dict(row) for row in conn.execute(table.select()).mappings()]
                for table in METADATA.sorted_tables
            }

    def empty(self) -> str:
        with self.engine.begin() as conn:
            for table in reversed(METADATA.sorted_tables):
                if table.name == "audit_events":  # its rows refuse DELETE (a trigger), not this
                    conn.execute(text('TRUNCATE "audit_events"'))
                    continue
                conn.execute(table.delete())
            for sequence in self._sequences:
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
            for table, rows in self._seeded.items():
                if rows:
                    conn.execute(table.insert(), rows)
        return self.url

    def close(self) -> None:
        self.engine.dispose()


class MigratedSqlite:
    """A SQLite file migrated once; each test gets a copy of it (a file copy, not a migration)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "migrated.db"
        upgrade(f"sqlite:///{self.path}")
        engine = make_engine(f"sqlite:///{self.path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def copy(self, directory: Path) -> str:
        path = directory / "shiftswitch.db"
        shutil.copyfile(self.path, path)
        return f"sqlite:///{path}"
