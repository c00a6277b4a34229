"""The tiers, marked by folder, and the databases tests take.

``tests/unit`` is pure (no services, no subprocess), ``tests/integration`` uses real databases,
Redis and HTTP servers in this process, ``tests/system`` starts real processes. Each test gets
the marker of its folder, so ``pytest -m unit`` runs the unit tier alone.

Databases: ``database_url`` runs a test on SQLite and on PostgreSQL, where what it tests
depends on the database (SQL, concurrency, migrations); ``sqlite_url`` and ``postgres_url``
give one. Each is migrated to the newest revision and holds no rows. ``bare_*`` give an empty
database without a schema, for the tests of the migrations themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import MigratedPostgres, MigratedSqlite, Postgres

TIERS = ("unit", "integration", "system")
HERE = Path(__file__).parent

# The sandbox serves on loopback: the tests (and every process they start) allow it, as the
# demo and docker-compose do theirs. Tests of the allowed hosts themselves give theirs.
os.environ.setdefault("SHIFTSWITCH_ALLOWED_BASE_URLS", "http://127.0.0.1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(HERE).parts[0] if item.path.is_relative_to(HERE) else ""
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.nodeid}: a test belongs in one of tests/{', tests/'.join(TIERS)}"
            )
        item.add_marker(tier)


# -- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _postgres() -> Iterator[Postgres]:
    server = Postgres()
    yield server
    server.close()


@pytest.fixture(scope="session")
def _migrated_postgres(_postgres: Postgres) -> Iterator[MigratedPostgres]:
    migrated = MigratedPostgres(_postgres)
    yield migrated
    migrated.close()
    _postgres.drop(migrated.url)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> MigratedSqlite:
    return MigratedSqlite(tmp_path_factory.mktemp("migrated"))


@pytest.fixture
def sqlite_url(_migrated_sqlite: MigratedSqlite, tmp_path: Path) -> str:
    """A SQLite file of this test's own, migrated, no rows."""
    return _migrated_sqlite.copy(tmp_path)


@pytest.fixture
def postgres_url(_migrated_postgres: MigratedPostgres) -> str:
    """A PostgreSQL database migrated, no rows (emptied for this test)."""
    return _migrated_postgres.empty()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def bare_sqlite_url(tmp_path: Path) -> str:
    """A SQLite file not yet created: no schema."""
    return f"sqlite:///{tmp_path / 'shiftswitch.db'}"


@pytest.fixture
def bare_postgres_url(_postgres: Postgres) -> Iterator[str]:
    """A new PostgreSQL database without a schema, dropped afterwards."""
    url = _postgres.create()
    yield url
    _postgres.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_database_url(request: pytest.FixtureRequest) -> str:
    """A database without a schema, on SQLite and on PostgreSQL."""
    fixture = "bare_sqlite_url" if request.param == "sqlite" else "bare_postgres_url"
    return str(request.getfixturevalue(fixture))
