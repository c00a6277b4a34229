"""The handoff's pipeline, for the tests that run the worker, the scheduler and the command
line as real processes against it.

On PostgreSQL, the production database; ``handoff_each_database`` runs a test on SQLite too,
where what it tests depends on the database (its SQL, or processes sharing it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline import Pipeline, handoff


@pytest.fixture
def handoff_pipeline(tmp_path: Path, postgres_url: str) -> Iterator[Pipeline]:
    with handoff(tmp_path, postgres_url) as p:
        yield p


@pytest.fixture
def handoff_each_database(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    with handoff(tmp_path, database_url) as p:
        yield p
