"""The ``shiftswitch`` command line run in the test's process, as a user runs it.

:func:`shiftswitch` calls the console script's entry point (:func:`shiftswitch.cli.main`) with
the environment, the working directory and the arguments a subprocess would get, and gives its
exit status and what it wrote, the way :func:`subprocess.run` does: the same command, without
a Python start-up and the imports per call. ``tests/system/test_console.py`` runs the console
script itself in subprocesses.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from shiftswitch.cli import main
from shiftswitch.cli.context import Context
from shiftswitch.clock import Clock, SystemClock
from shiftswitch.settings import ConfigError, Settings


@dataclass(frozen=True)
class Ran:
    """A finished command: exit status, standard output and standard error."""

    returncode: int
    stdout: str
    stderr: str


def shiftswitch(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    clock: Clock | None = None,
    stdin: str | None = None,
) -> Ran:
    """Run ``shiftswitch ARGS``.

    ``env``: the command's whole environment (default: this process's), as a subprocess would
    get it. ``clock``: the time the command sees (default: the system's; a command given a
    date must be given a clock, see :func:`dated_on_the_real_clock`). ``stdin``: what the
    command reads from standard input (default: nothing). The command's
    database engine is disposed of afterwards, as a process's would be at its exit.
    """
    if clock is None and (dated := dated_on_the_real_clock(args)) is not None:
        raise AssertionError(
            f"shiftswitch {' '.join(args)}: {dated!r} is a date compared with the machine's "
            "clock, which passes only until that date; give the command the test's clock"
        )
    environment = dict(os.environ if env is None else env)
    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in environment}
    overrides.update(environment)
    try:
        context: Context | None = Context(Settings.from_env(environment), clock or SystemClock())
    except ConfigError:
        context = None  # the command reads the settings itself, and says what is wrong
    with (
        CliRunner().isolation(input=stdin, env=overrides) as (stdout, stderr, _),
        contextlib.chdir(cwd or Path.cwd()),
    ):
        try:
            main(list(args), obj=context)
        except SystemExit as exit_:
            code = exit_.code
        else:  # main() always exits; never reached
            code = 0
        finally:
            if context is not None and "engine" in context.__dict__:
                context.engine.dispose()
    status = code if isinstance(code, int) else (0 if code is None else 1)
    return Ran(status, stdout.getvalue().decode(), stderr.getvalue().decode())


A_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
# Commands whose dates are a window to show, never compared with the time now.
WINDOWS = frozenset({"plan"})


def dated_on_the_real_clock(args: Sequence[str]) -> str | None:
    """The first argument of ``shiftswitch ARGS`` that holds a date, when the command would
    compare it with the time now (``None``: none does).

    A date written in a test is "in the future" only until it is not: a command given one must
    run on the test's clock, so that the test passes on any day.
    """
    if args and args[0] in WINDOWS:
        return None
    return next((arg for arg in args if A_DATE.search(arg)), None)
