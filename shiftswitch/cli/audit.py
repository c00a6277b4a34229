"""``shiftswitch audit``: who changed what (README: Audit)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import click
from sqlalchemy.orm import Session

from shiftswitch import audit as audit_log
from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.clock import as_utc
from shiftswitch.roster.model import parse_duration

_WHEN = re.compile(r"^\d+[smhdw]$")


def since_of(text: str, now: datetime) -> datetime:
    """``--since``: an ISO date-time (UTC unless it has an offset), or a duration back from
    now (``2h``, ``7d``, ``2w``)."""
    text = text.strip()
    if _WHEN.match(text):
        if text.endswith("w"):
            return now - timedelta(weeks=int(text[:-1]))
        back = parse_duration(text)
        if back is not None:
            return now - back
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give an ISO date-time (2026-12-06T09:00) or a duration (2h, 7d)",
            param_hint="--since",
        ) from None
    return as_utc(at if at.tzinfo else at.replace(tzinfo=now.tzinfo))


@click.command()
@click.option(
    "--since", metavar="T", help="From T: an ISO date-time (UTC) or a duration back (2h, 7d)."
)
@click.option("--who", "who_part", metavar="W", help="Only changes whose who contains W.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def audit(ctx: Context, since: str | None, who_part: str | None, limit: int, as_json: bool) -> None:
    """Who changed what: roster imports and rollbacks, overrides, holds and switches by hand,
    pauses, users, tokens, calendar keys and logins; newest first."""
    now = ctx.clock.now()
    start = since_of(since, now) if since else None
    with Session(ctx.engine) as session:
        rows = audit_log.events(session, since=start, who=who_part, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no changes recorded" + (" in that time" if since else ""), err=True)
        return
    table(
        ("WHEN (UTC)", "WHO", "VIA", "WHAT", "ON", "BEFORE", "AFTER"),
        [
            (r["at"][:19].replace("T", " "), r["who"], r["via"], r["what"], r["target"] or "",
             r["before"] or "", r["after"] or "")
            for r in rows
        ],
    )  # fmt: skip
