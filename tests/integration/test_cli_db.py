"""``shiftswitch db upgrade`` on SQLite and PostgreSQL, and a database it cannot reach."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shiftswitch.db import (
    Database,
    alembic_config,
    autocommit_engine,
    make_engine,
    sqlite_file,
)
from tests.commands import shiftswitch


def test_db_upgrade_migrates_to_the_newest_revision(bare_database_url: str) -> None:
    done = shiftswitch("db", "upgrade", env={**os.environ, "DATABASE_URL": bare_database_url})
    assert done.returncode == 0, done.stderr
    newest = ScriptDirectory.from_config(alembic_config(bare_database_url)).get_current_head()
    engine = make_engine(bare_database_url)
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert revision == newest


def test_db_upgrade_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u:s3cret@127.0.0.1:1/none"
    done = shiftswitch("db", "upgrade", env={**os.environ, "DATABASE_URL": url}, cwd=tmp_path)
    assert done.returncode == 1
    assert "check DATABASE_URL" in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url s3cret", "DATABASE_URL is not a database URL; use postgresql+psycopg://"),
        ("mongodb://u:s3cret@db/x", "DATABASE_URL names 'mongodb', no database shiftswitch"),
        ("postgresql://u:s3cret@db:port/x", "DATABASE_URL's port is not a number"),
        ("mysql://u:s3cret@db/x", "names 'mysql', whose driver (MySQLdb) is not installed"),
        ("postgresql://nob0dy:s3cret@127.0.0.1:5432/test", 'role "nob0dy" does not exist'),
        ("postgresql://postgres@127.0.0.1:5432/n0_such_db", "(check DATABASE_URL)"),
    ],
)
def test_a_wrong_database_url_is_one_line_that_says_what_to_fix(
    tmp_path: Path, url: str, said: str
) -> None:
    done = shiftswitch("history", env={**os.environ, "DATABASE_URL": url}, cwd=tmp_path)
    assert done.returncode == 1
    assert said in done.stderr
    assert "db upgrade" not in done.stderr  # no table is missing: the URL is wrong
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [("history",), ("status",), ("audit",)])
def test_a_command_never_creates_a_sqlite_file_by_reading_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "not-yet.db"
    env = {**_with_the_shipped_roster(), "DATABASE_URL": f"sqlite:///{missing}"}
    done = shiftswitch(*command, env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"shiftswitch: error: sqlite:///{missing}: no such file: run 'shiftswitch db upgrade' first"
    )
    assert not missing.exists()
    assert shiftswitch("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert shiftswitch("history", env=env, cwd=tmp_path).returncode == 0  # made: it goes ahead


def test_a_sqlite_uri_names_its_file(tmp_path: Path) -> None:
    made = tmp_path / "uri.db"
    env = {**_with_the_shipped_roster(), "DATABASE_URL": f"sqlite:///file:{made}?uri=true"}
    refused = shiftswitch("history", env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "no such file" in refused.stderr
    assert shiftswitch("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert made.exists()
    done = shiftswitch("history", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sqlite_file(make_url("sqlite:///file:x.db?mode=memory&uri=true")) is None
    assert sqlite_file(make_url("sqlite:///file:///srv/a%20b.db?uri=true")) == Path("/srv/a b.db")
    assert sqlite_file(make_url("sqlite:///./sub/../x.db")) == Path("x.db")


def test_the_api_server_never_creates_a_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "not-yet.db"
    env = {**_with_the_shipped_roster(), "DATABASE_URL": f"sqlite:///{missing}"}
    done = shiftswitch("api", "--port", "0", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("no such file: run 'shiftswitch db upgrade' first")
    assert not missing.exists()


def test_a_command_without_the_database_runs_where_there_is_none(tmp_path: Path) -> None:
    missing = tmp_path / "not-yet.db"
    env = {**_with_the_shipped_roster(), "DATABASE_URL": f"sqlite:///{missing}"}
    done = shiftswitch("plan", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not missing.exists()


def _with_the_shipped_roster() -> dict[str, str]:
    roster = Path(__file__).parents[2] / "schedules.yaml"
    allowed = {"SHIFTSWITCH_ALLOWED_BASE_URLS": "http://127.0.0.1"}
    return {**os.environ, "SHIFTSWITCH_ROSTER": str(roster), **allowed}


def test_a_database_without_tables_is_told_to_upgrade(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    url = f"sqlite:///{empty}"
    done = shiftswitch("history", env={**os.environ, "DATABASE_URL": url}, cwd=tmp_path)
    assert done.returncode == 1
    assert "no such table" in done.stderr and "run 'shiftswitch db upgrade' first" in done.stderr


def test_a_database_a_release_behind_is_told_to_upgrade(bare_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": bare_database_url}
    done = shiftswitch("db", "upgrade", "--revision", "0017", env=env)
    assert done.returncode == 0, done.stderr
    behind = shiftswitch("history", env=env)  # reads a column the newest migration adds
    assert behind.returncode == 1
    assert "column" in behind.stderr and "run 'shiftswitch db upgrade' first" in behind.stderr


def test_sqlite_reads_in_autocommit_on_a_pool_of_their_own(bare_database_url: str) -> None:
    engine = make_engine(bare_database_url)
    reads = autocommit_engine(engine, pool_size=2)
    store = Database(engine, reads)
    try:
        if engine.dialect.name != "sqlite":  # one pool, switched at each checkout
            assert reads is None
            assert store.autocommitting.pool is engine.pool
        else:
            assert reads is not None and store.autocommitting is reads
            assert reads.url == engine.url and reads.pool is not engine.pool
        with store.autocommitting.connect() as conn:
            conn.execute(text("CREATE TABLE seen (n INTEGER)"))
            conn.execute(text("INSERT INTO seen VALUES (1)"))  # committed by itself
        with engine.connect() as conn:
            assert conn.execute(text("SELECT n FROM seen")).scalar() == 1
            conn.execute(text("DROP TABLE seen"))
            conn.commit()
    finally:
        engine.dispose()
        if reads is not None:
            reads.dispose()


def test_a_sqlite_database_in_memory_keeps_one_pool() -> None:
    for memory in ("sqlite://", "sqlite:///file::memory:?uri=true"):
        engine = make_engine(memory)
        assert autocommit_engine(engine) is None  # a second engine would not share it
        engine.dispose()
