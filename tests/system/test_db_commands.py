"""``shiftswitch db current`` and Alembic's own commands, on the database of ``DATABASE_URL``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from shiftswitch.db import alembic_config, upgrade
from tests import ROOT


def run(*argv: str, url: str) -> subprocess.CompletedProcess[str]:
    """``python -m argv...`` from the top of the repository, with ``DATABASE_URL`` = ``url``."""
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def head() -> str:
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    found = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert found is not None
    return found


def test_db_current_says_the_revision_and_whether_it_is_head(tmp_path: Path, head: str) -> None:
    file = tmp_path / "shiftswitch.db"
    url = f"sqlite:///{file}"

    missing = run("shiftswitch", "db", "current", url=url)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("no such file: run 'shiftswitch db upgrade'")
    assert not file.exists()  # looking created nothing

    sqlite3.connect(file).close()  # a database, never migrated
    empty = run("shiftswitch", "db", "current", url=url)
    assert empty.returncode == 0, empty.stderr
    assert f"at no revision (never migrated), head is {head}" in empty.stdout

    upgrade(url, "0005")
    behind = run("shiftswitch", "db", "current", url=url)
    assert behind.returncode == 0, behind.stderr
    assert f"database at revision 0005, not head ({head})" in behind.stdout
    assert "run 'shiftswitch db upgrade'" in behind.stdout

    upgrade(url)
    current = run("shiftswitch", "db", "current", url=url)
    assert current.returncode == 0, current.stderr
    assert current.stdout == f"database at revision {head} (head): {url}\n"


def test_alembic_commands_work_from_database_url(tmp_path: Path, head: str) -> None:
    url = f"sqlite:///{tmp_path / 'shiftswitch.db'}"
    upgrade(url, "0006")

    behind = run("alembic", "current", url=url)
    assert behind.returncode == 0, behind.stderr
    assert behind.stdout.strip() == "0006"
    assert run("alembic", "check", url=url).returncode != 0  # not up to date: nothing to compare

    upgraded = run("alembic", "upgrade", "head", url=url)
    assert upgraded.returncode == 0, upgraded.stderr
    current = run("alembic", "current", url=url)
    assert current.stdout.strip() == f"{head} (head)"
    checked = run("alembic", "check", url=url)  # autogenerate finds the models and tables alike
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout
