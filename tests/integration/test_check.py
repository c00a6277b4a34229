"""``shiftswitch check`` of the database and the roster: what a health probe is told when the
database is missing or not migrated, and which roster it checks."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from shiftswitch.db import make_engine
from shiftswitch.roster.yamldoc import read_in_c
from shiftswitch.sources.store import RosterStore
from tests.commands import Ran, shiftswitch
from tests.pipeline import free_port, roster_yaml

AGENTS = {"ravi": ("u-101", {"desk": "100281"})}
SHIFTS = [{"name": "am", "start": "0 9 * * *", "duration": "4h", "members": ["ravi"]}]


def check(*args: str, **env: str) -> Ran:
    return shiftswitch("check", *args, env={**os.environ, **env})


def test_a_migrated_database_passes(database_url: str) -> None:
    done = check("--only", "database", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("ok    database  ")


def test_check_reads_the_stored_roster_when_it_is_the_source(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "SHIFTSWITCH_ROSTER_SOURCE": "db",
        "SHIFTSWITCH_ROSTER": str(tmp_path / "not-read.yaml"),  # the stored roster is read
    }
    none = check("--only", "roster", **env)
    assert none.returncode == 1
    assert none.stdout.strip() == (
        "FAIL  roster    roster (database): no roster in the database; store one with "
        "'shiftswitch roster import FILE'"
    )
    engine = make_engine(database_url)
    text = roster_yaml("http://127.0.0.1:8090", AGENTS, SHIFTS)
    RosterStore(engine).write(lambda _: text, source="tests", by="tests", now=datetime.now(UTC))
    engine.dispose()
    stored = check("--only", "roster", **env)
    assert stored.returncode == 0, stored.stdout
    read = "" if read_in_c() else "; read in Python alone, its C reader not built"
    assert stored.stdout.strip().startswith(
        f"ok    roster    roster (database): version 1 valid, 1 agent{read}"
    )


def test_check_names_an_invalid_roster_file(tmp_path: Path) -> None:
    roster = tmp_path / "schedules.yaml"
    roster.write_text(
        roster_yaml("http://127.0.0.1:8090", AGENTS, SHIFTS).replace('"0 9 * * *"', '"0 25 * * *"')
    )
    bad = check("--only", "roster", SHIFTSWITCH_ROSTER=str(roster))
    assert bad.returncode == 1
    assert "FAIL  roster" in bad.stdout and "shifts[0].start" in bad.stdout


def test_check_says_to_migrate_and_refuses_unknown_checks(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    missing = check("--only", "database", **env)
    assert missing.returncode == 1
    assert "no such file: run 'shiftswitch db upgrade'" in missing.stdout
    stored = check("--only", "roster", SHIFTSWITCH_ROSTER_SOURCE="db", **env)
    assert stored.returncode == 1 and "roster (database): no database file" in stored.stdout
    assert not (tmp_path / "none.db").exists()  # the checks created nothing
    sqlite3.connect(tmp_path / "none.db").close()  # a database, never migrated
    old = check("--only", "database", **env)
    assert old.returncode == 1
    assert "at revision none, this version needs " in old.stdout
    assert "run 'shiftswitch db upgrade'" in old.stdout
    wrong = check("--only", "redis,bogus", **env)
    assert wrong.returncode == 2 and "bogus: choose from" in wrong.stderr


def test_redis_not_there_fails_its_checks_and_a_command_in_one_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    roster = tmp_path / "schedules.yaml"
    roster.write_text(roster_yaml("http://127.0.0.1:8090", AGENTS, SHIFTS))
    env = {
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "SHIFTSWITCH_ROSTER": str(roster),
        "SHIFTSWITCH_ALLOWED_BASE_URLS": "http://127.0.0.1",
    }
    done = check("--only", "redis,workers", **env)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FAIL  redis ") and lines[1].startswith("FAIL  workers   cannot ask")
    assert "Traceback" not in done.stderr
    reconcile = shiftswitch("reconcile", env={**os.environ, **env})
    assert reconcile.returncode == 1
    assert reconcile.stderr.startswith("shiftswitch: error: redis: ")
    assert "(check REDIS_URL; is Redis running?)" in reconcile.stderr
    assert len(reconcile.stderr.strip().splitlines()) == 1


def test_a_wrong_database_url_fails_the_database_line_without_the_url() -> None:
    for url in ("notaurl", "mysql://u:s3cret@db/x", "postgresql://u:s3cret@db:port/x"):
        done = check("--only", "database", DATABASE_URL=url)
        assert done.returncode == 1 and done.stdout.startswith("FAIL  database  DATABASE_URL")
        assert "s3cret" not in done.stdout + done.stderr and "Traceback" not in done.stderr
