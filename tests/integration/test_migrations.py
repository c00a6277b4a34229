"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from shiftswitch.db import alembic_config, make_engine, upgrade
from shiftswitch.schema import METADATA

AT = "2026-11-30 09:00:00"


@pytest.fixture
def url(bare_database_url: str) -> str:
    """A database without a schema: each test applies the migrations itself."""
    return bare_database_url


def test_migrations_match_models(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), METADATA)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert "alembic_version" in tables
    assert set(METADATA.tables) <= tables


def test_upgrade_twice_is_harmless(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO pauses (account, paused_at, paused_by) "
                    "VALUES ('main', '2026-11-30 09:00:00', 'dana')"
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT account, paused_by FROM pauses")).all()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert list(revision) == [_newest(url)]
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("main", "dana")]


def _newest(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_sqlite_runs_in_wal_mode(bare_sqlite_url: str) -> None:
    engine = make_engine(bare_sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def _action_and_attempt(conn: Connection, **more: str) -> None:
    """A succeeded action (id 1) as the schema before 0007 holds it, and its attempt."""
    columns = {
        "id": 1, "key": "k", "source": "schedule", "owner": "main/u-100", "account": "main",
        "sid": "acme", "base_url": "http://x", "rate_limit": "50/min", "siblings": "[]",
        "available": True, "due_at": AT, "created_at": AT, "status": "succeeded", "attempts": 1,
        **more,
    }  # fmt: skip
    names = ", ".join(columns)  # this function's own names: nothing from outside
    values = ", ".join(f":{name}" for name in columns)
    conn.execute(text(f"INSERT INTO actions ({names}) VALUES ({values})"), columns)  # noqa: S608
    conn.execute(
        text(
            "INSERT INTO attempts (action_id, number, request, at, duration_ms, outcome) "
            "VALUES (1, 1, 'PUT available=true', :at, 12.5, 'ok')"
        ),
        {"at": AT},
    )


def test_actions_recorded_before_0004_are_switches_and_keep_their_attempts(url: str) -> None:
    upgrade(url, "0003")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _action_and_attempt(conn)
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT kind, new_contact_uri FROM actions")).one()
            assert tuple(row) == ("switch", None)
            assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 1
        command.downgrade(alembic_config(url), "0003")
        with engine.connect() as conn:
            assert "kind" not in {c["name"] for c in inspect(conn).get_columns("actions")}
            assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 1
    finally:
        engine.dispose()


def test_0006_keeps_the_overrides_and_never_gives_an_id_again(url: str) -> None:
    upgrade(url, "0005")
    engine = make_engine(url)
    insert = text(
        "INSERT INTO roster_overrides (agent, device, starts_at, ends_at) "
        "VALUES ('asha', :device, '2026-12-01 03:30:00', '2026-12-01 07:30:00')"
    )
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"device": "mobile"})
            conn.execute(insert, {"device": None})
        upgrade(url)
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT id, device FROM roster_overrides ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [(1, "mobile"), (2, None)]
            conn.execute(text("DELETE FROM roster_overrides WHERE id = 2"))
            conn.execute(insert, {"device": "desk"})
            assert conn.execute(text("SELECT max(id) FROM roster_overrides")).scalar() == 3
        command.downgrade(alembic_config(url), "0005")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM roster_overrides")).scalar() == 2
    finally:
        engine.dispose()


def test_0007_renames_the_ordering_columns_and_keeps_every_row(url: str) -> None:
    upgrade(url, "0006")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _action_and_attempt(conn, kind="switch")  # 0004 added the column
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT user_key, wants_on FROM actions")).one()
            assert tuple(row) == ("main/u-100", True)
            assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 1
            indexes = {i["name"] for i in inspect(conn).get_indexes("actions")}
            assert "ix_actions_user_order" in indexes and "ix_actions_owner_order" not in indexes
        command.downgrade(alembic_config(url), "0006")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT owner, available FROM actions")).one()
            assert tuple(row) == ("main/u-100", True)
            assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 1
    finally:
        engine.dispose()
