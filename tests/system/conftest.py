"""The handoff's pipeline, for the tests that run the worker, the scheduler and the command
line as real processes against it.

On PostgreSQL, the production database. ``handoff_pipeline`` gives the worker shared by the
tests that want one plain worker (see :class:`tests.pipeline.SharedWorker`);
``handoff_own_workers`` lets a test start, stop and kill its own; ``handoff_each_database``
runs a test on SQLite too (with a worker of its own there), where what it tests depends on
the database (its SQL, or processes sharing it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pipeline import Pipeline, SharedWorker, handoff
from tests.services import SHARED_WORKER_REDIS_DB, MigratedPostgres, redis_url


@pytest.fixture(scope="session")
def shared_worker(
    tmp_path_factory: pytest.TempPathFactory, _migrated_postgres: MigratedPostgres
) -> Iterator[SharedWorker]:
    worker = SharedWorker(
        tmp_path_factory.mktemp("shared-worker"),
        _migrated_postgres.url,
        redis_url(SHARED_WORKER_REDIS_DB),
    )
    yield worker
    worker.close()


@pytest.fixture
def handoff_pipeline(
    tmp_path: Path, postgres_url: str, shared_worker: SharedWorker
) -> Iterator[Pipeline]:
    with handoff(tmp_path, postgres_url, shared=shared_worker) as p:
        yield p


@pytest.fixture
def handoff_own_workers(tmp_path: Path, postgres_url: str) -> Iterator[Pipeline]:
    with handoff(tmp_path, postgres_url) as p:
        yield p


@pytest.fixture
def worker_for(request: pytest.FixtureRequest) -> Callable[[str], SharedWorker | None]:
    """The shared worker for a database that is its (PostgreSQL's), else None."""

    def shared(database_url: str) -> SharedWorker | None:
        worker: SharedWorker = request.getfixturevalue("shared_worker")
        return worker if database_url == worker.database_url else None

    return shared


@pytest.fixture
def handoff_each_database(
    tmp_path: Path, database_url: str, worker_for: Callable[[str], SharedWorker | None]
) -> Iterator[Pipeline]:
    with handoff(tmp_path, database_url, shared=worker_for(database_url)) as p:
        yield p
