"""What every command of the CLI shares: settings and clock, built once in ``main``."""

from __future__ import annotations

from collections.abc import Sequence

import click

from shiftswitch.operations import Operations

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class Context(Operations):
    """What every command needs (settings, clock, stores), built once in
    :func:`shiftswitch.cli.main`."""


pass_context = click.make_pass_decorator(Context)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header, in columns as wide as their widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
