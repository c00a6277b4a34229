"""``shiftswitch check`` against real services: the exit code a health probe relies on."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.pipeline import Pipeline, pipeline, roster_yaml, user

pytestmark = pytest.mark.integration

AGENTS = {"ravi": ("u-101", {"desk": "100281"})}
SHIFTS = [{"name": "am", "start": "0 9 * * *", "duration": "4h", "members": ["ravi"]}]


def test_check_passes_with_everything_up_and_names_what_fails(
    tmp_path: Path, database_url: str
) -> None:
    users = [user("u-101", ("100281", "Desk", "+919953125002"))]
    with pipeline(tmp_path, database_url, users, lambda u: roster_yaml(u, AGENTS, SHIFTS)) as p:
        no_worker = p.cli("check")
        assert no_worker.returncode == 1
        assert "FAIL  workers   no worker answered" in no_worker.stdout

        p.start_worker()
        every = p.cli(
            "check",
            "--only",
            "database,redis,roster,workers,sandbox",
            "--sandbox-url",
            p.sandbox.url,
            "--json",
        )
        assert every.returncode == 0, every.stdout + every.stderr
        results = json.loads(every.stdout)
        assert [(r["name"], r["ok"]) for r in results] == [
            ("database", True),
            ("redis", True),
            ("roster", True),
            ("workers", True),
            ("sandbox", True),
        ]
        assert "w0@test" in results[3]["detail"]
        assert p.cli("check", "--only", "workers", "--worker", "w0@test").returncode == 0
        assert p.cli("check", "--only", "workers", "--worker", "nobody@x").returncode == 1

        _invalid_roster(p)


def test_check_reads_the_stored_roster_when_it_is_the_source(
    tmp_path: Path, database_url: str
) -> None:
    with pipeline(tmp_path, database_url, [], lambda u: roster_yaml(u, AGENTS, SHIFTS)) as p:
        p.env["SHIFTSWITCH_ROSTER_SOURCE"] = "db"
        none = p.cli("check", "--only", "roster")
        assert none.returncode == 1
        assert none.stdout.strip() == (
            "FAIL  roster    roster (database): no roster in the database; store one with "
            "'shiftswitch roster import FILE'"
        )
        p.import_roster()
        p.roster_path.unlink()  # not read
        stored = p.cli("check", "--only", "roster")
        assert stored.returncode == 0, stored.stdout
        assert (
            stored.stdout.strip() == "ok    roster    roster (database): version 1 valid, 1 agent"
        )


def _invalid_roster(p: Pipeline) -> None:
    p.roster_path.write_text(p.roster_path.read_text().replace('"0 9 * * *"', '"0 25 * * *"'))
    bad = p.cli("check", "--only", "roster")
    assert bad.returncode == 1
    assert "FAIL  roster" in bad.stdout and "shifts[0].start" in bad.stdout


def test_check_says_to_migrate_and_refuses_unknown_checks(tmp_path: Path) -> None:
    env_db = f"sqlite:///{tmp_path / 'none.db'}"
    with pipeline(tmp_path, f"sqlite:///{tmp_path / 'ok.db'}", [], lambda u: "version: 1\n") as p:
        p.env["DATABASE_URL"] = env_db
        missing = p.cli("check", "--only", "database")
        assert missing.returncode == 1
        assert "no such file: run 'shiftswitch db upgrade'" in missing.stdout
        p.env["SHIFTSWITCH_ROSTER_SOURCE"] = "db"
        stored = p.cli("check", "--only", "roster")
        assert stored.returncode == 1 and "roster (database): no database file" in stored.stdout
        assert not (tmp_path / "none.db").exists()  # the checks created nothing
        sqlite3.connect(tmp_path / "none.db").close()  # a database, never migrated
        old = p.cli("check", "--only", "database")
        assert old.returncode == 1
        assert "at revision none, this version needs " in old.stdout
        assert "run 'shiftswitch db upgrade'" in old.stdout
        wrong = p.cli("check", "--only", "redis,bogus")
        assert wrong.returncode == 2 and "bogus: choose from" in wrong.stderr
