"""What every command of the CLI shares: settings and clock, built once in ``main``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from shiftswitch.operations import Operations

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class Context(Operations):
    """What every command needs (settings, clock, stores), built once in
    :func:`shiftswitch.cli.main`."""

    def _make_engine(self) -> Engine:
        """The database's engine; a command never creates a SQLite file by reading it (only
        ``shiftswitch db upgrade`` makes one)."""
        from shiftswitch.db import refuse_missing_file  # noqa: PLC0415

        engine = super()._make_engine()
        refuse_missing_file(engine)
        return engine


pass_context = click.make_pass_decorator(Context)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header, in columns as wide as their widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
