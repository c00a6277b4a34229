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
from collections.abc import Mapping
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
    get it. ``clock``: the time the command sees (default: the system's). ``stdin``: what the
    command reads from standard input (default: nothing). The command's
    database engine is disposed of afterwards, as a process's would be at its exit.
    """
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
