"""The command line imports a command's modules only when it runs: checking a roster file
does not wait for the database driver, Celery, redis-py or the web framework."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from shiftswitch.cli.main import _CommandContext, _Commands
from tests import EXAMPLE_ROSTER, ROOT

HEAVY = ("sqlalchemy", "celery", "kombu", "redis", "fastapi", "requests")

PROBE = """
import sys
from shiftswitch.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print(code, ",".join(heavy) or "-", file=sys.stderr)
"""


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )
    code, heavy = done.stderr.strip().splitlines()[-1].split()
    return code, heavy


def test_roster_validate_imports_no_database_broker_or_web_modules() -> None:
    assert imported("roster", "validate", str(EXAMPLE_ROSTER)) == ("0", "-")


def test_a_mistyped_command_imports_none_either() -> None:
    assert imported("statsu") == ("2", "-")


def test_a_command_that_needs_the_database_imports_it(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    code, heavy = imported("roster", "versions", env={"DATABASE_URL": empty})
    assert code == "1" and "sqlalchemy" in heavy.split(",")  # told to run 'db upgrade'


def test_the_commands_are_a_mapping_that_imports_on_first_use() -> None:
    commands = _Commands({"plan": "plan:plan"})
    assert list(commands) == ["plan"] and len(commands) == 1
    assert commands["plan"].name == "plan"
    assert commands["plan"].context_class is _CommandContext  # refusals said as click says

    @click.command("hello")
    def hello() -> None:
        """A command added by hand."""

    commands["hello"] = hello
    assert sorted(commands) == ["hello", "plan"] and hello.context_class is _CommandContext
    del commands["plan"]
    assert list(commands) == ["hello"] and "plan" not in commands
