"""``shiftswitch db upgrade`` on SQLite and PostgreSQL, and a database it cannot reach."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from shiftswitch.db import alembic_config, make_engine
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
