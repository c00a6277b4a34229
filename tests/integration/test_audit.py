"""Who changed what: one append-only ``audit_events`` row per change, with its who and its
shell, from the command line; rows refused an UPDATE and a DELETE by the database itself."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from tests import EXAMPLE_ROSTER, ROOT
from tests.commands import Ran, shiftswitch

Cli = Callable[..., Ran]


@pytest.fixture
def cli(database_url: str) -> Cli:
    clock = FixedClock(datetime(2026, 12, 6, 12, tzinfo=UTC))

    def call(*args: str) -> Ran:
        env = {**os.environ, "DATABASE_URL": database_url}
        return shiftswitch(*args, env=env, cwd=ROOT, clock=clock)

    return call


def test_changes_from_the_command_line_are_audited_with_who_and_how(
    cli: Cli, tmp_path: Path
) -> None:
    assert cli("roster", "import", str(EXAMPLE_ROSTER), "--by", "alice").returncode == 0
    assert cli("override", "add", "ravi", "--off", "--from", "2026-12-20", "--to",
               "2026-12-21", "--by", "bob").returncode == 0  # fmt: skip
    assert cli("pause", "--by", "carol").returncode == 0
    assert cli("resume", "--by", "carol").returncode == 0
    assert cli("tokens", "create", "--name", "wfm", "--role", "operator",
               "--by", "dave").returncode == 0  # fmt: skip
    rows = json.loads(cli("audit", "--json").stdout)
    assert [(r["who"], r["via"], r["what"]) for r in reversed(rows)] == [
        ("alice", "cli", "roster import"),
        ("bob", "cli", "override add"),
        ("carol", "cli", "pause"),
        ("carol", "cli", "resume"),
        ("dave", "cli", "token create"),
    ]
    imported = rows[-1]
    assert imported["after"].startswith("version 1: first roster")
    assert all("ssw_" not in json.dumps(r) for r in rows)  # never a token
    only = json.loads(cli("audit", "--json", "--who", "carol", "--since", "1h").stdout)
    assert [r["what"] for r in only] == ["resume", "pause"]
    bad = cli("audit", "--since", "yesterday")
    assert bad.returncode == 2 and "give an ISO date-time" in bad.stderr


def test_the_database_refuses_to_change_or_delete_an_audit_row(cli: Cli, database_url: str) -> None:
    assert cli("pause", "--by", "carol").returncode == 0
    engine = make_engine(database_url)
    try:
        for statement in ("UPDATE audit_events SET who = 'mallory'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="only ever added"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT who FROM audit_events")).scalars().all() == ["carol"]
    finally:
        engine.dispose()
