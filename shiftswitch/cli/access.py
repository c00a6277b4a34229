"""``shiftswitch users add|list|remove`` and ``shiftswitch tokens create|list|revoke``: who may
use the HTTP API and the web console (README: HTTP API). Whoever can run these can reach the
database, so they need no login: the first admin is made here."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime

import click

from shiftswitch.access import AccessError, AccessStore, Role
from shiftswitch.access.credentials import check_name, format_instant, parse_expiry
from shiftswitch.access.store import name_taken
from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.cli.options import by_option, json_option
from shiftswitch.sources.store import who

role_option = click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role], case_sensitive=False),
    help="viewer (reads), operator (switches, holds, overrides, pause, reconcile) or admin "
    "(roster, users, tokens).",
)


def _store(ctx: Context) -> AccessStore:
    return AccessStore(ctx.engine)


def _instant(at: datetime | None) -> str | None:
    return None if at is None else format_instant(at)


def _cell(at: datetime | None) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M}"


def _print_json(rows: Sequence[dict[str, object]]) -> None:
    click.echo(json.dumps(list(rows), indent=2))


# -- users --------------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """People who sign in to the web console (or the API) with a name and password."""


@users.command("add")
@click.argument("name")
@role_option
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (default: ask twice).",
)
@by_option
@pass_context
def users_add(ctx: Context, name: str, role: str, password_stdin: bool, by: str | None) -> None:
    """Add a user NAME with a role; the password (12 to 1024 characters) is asked for twice,
    without echo, or read from standard input. Only its argon2 hash is stored."""
    store = _store(ctx)
    try:
        check_name(name, "user")
    except AccessError as exc:
        raise click.UsageError(str(exc)) from None
    if any(u.name == name for u in store.users()):
        raise name_taken("user", name, "users")  # before the password is typed
    if password_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise click.UsageError("--password-stdin: no password on standard input; give one line")
    else:
        try:
            password = click.prompt(
                f"Password for {name}", hide_input=True, confirmation_prompt="Repeat it", err=True
            )
        except click.exceptions.Abort:
            if sys.stdin.isatty():
                raise  # Ctrl-C at the prompt
            raise click.UsageError(
                "no password given: run it at a terminal, or give the password on standard "
                "input with --password-stdin"
            ) from None
    store.add_user(name, Role(role), password, by=who(by), now=ctx.clock.now())
    click.echo(f"user {name} added ({role})", err=True)


@users.command("list")
@json_option
@pass_context
def users_list(ctx: Context, as_json: bool) -> None:
    """Every user: name, role, when added and by whom, last login (UTC)."""
    rows = _store(ctx).users()
    if as_json:
        _print_json([u.as_json() for u in rows])
        return
    if not rows:
        click.echo("no users yet ('shiftswitch users add NAME --role admin' adds one)", err=True)
        return
    table(
        ("NAME", "ROLE", "CREATED (UTC)", "BY", "LAST LOGIN (UTC)"),
        [(u.name, u.role, _cell(u.created_at), u.created_by, _cell(u.last_login_at)) for u in rows],
    )


@users.command("remove")
@click.argument("name")
@pass_context
def users_remove(ctx: Context, name: str) -> None:
    """Remove user NAME; their console sessions end at once."""
    _store(ctx).remove_user(name, by=who(None), now=ctx.clock.now())
    click.echo(f"user {name} removed; their sessions ended", err=True)


# -- tokens -------------------------------------------------------------------------------------


@click.group()
def tokens() -> None:
    """Bearer tokens for the HTTP API (Authorization: Bearer TOKEN)."""


@tokens.command("create")
@click.option("--name", required=True, help="The token's name (who or what uses it).")
@role_option
@click.option(
    "--expires",
    metavar="T",
    help="When it stops working: a duration (30d, 12h, 90m, 2w), an ISO date-time (UTC unless "
    "it has an offset) or a date (the end of that day, UTC). Default: never.",
)
@by_option
@pass_context
def tokens_create(ctx: Context, name: str, role: str, expires: str | None, by: str | None) -> None:
    """Make a token and print it, alone on standard output: it is shown this once (only its
    digest is stored), so TOKEN=$(shiftswitch tokens create ...) keeps it."""
    now = ctx.clock.now()
    try:
        check_name(name, "token")
        expires_at = None if expires is None else parse_expiry(expires, now)
    except AccessError as exc:
        raise click.UsageError(str(exc)) from None
    secret = _store(ctx).create_token(name, Role(role), expires_at=expires_at, by=who(by), now=now)
    until = f"until {format_instant(expires_at)}" if expires_at else "without expiry"
    click.echo(
        f"token {name} ({role}, {until}); shown this once, keep it now. "
        "Send it as 'Authorization: Bearer TOKEN'.",
        err=True,
    )
    click.echo(secret)


@tokens.command("list")
@json_option
@pass_context
def tokens_list(ctx: Context, as_json: bool) -> None:
    """Every token (never the token itself): name, role, its first characters, state, when
    made and by whom, expiry, revocation, last use (to the minute; UTC)."""
    now = ctx.clock.now()
    rows = _store(ctx).tokens()
    if as_json:
        _print_json([t.as_json(now) for t in rows])
        return
    if not rows:
        click.echo("no tokens yet ('shiftswitch tokens create --name N --role R')", err=True)
        return
    table(
        (
            "NAME",
            "ROLE",
            "PREFIX",
            "STATE",
            "CREATED (UTC)",
            "BY",
            "EXPIRES",
            "REVOKED",
            "LAST USED",
        ),
        [
            (
                t.name,
                t.role,
                f"ssw_{t.prefix}...",
                t.state(now),
                _cell(t.created_at),
                t.created_by,
                _cell(t.expires_at) if t.expires_at else "never",
                _cell(t.revoked_at),
                _cell(t.last_used_at),
            )
            for t in rows
        ],
    )


@tokens.command("revoke")
@click.argument("name")
@pass_context
def tokens_revoke(ctx: Context, name: str) -> None:
    """Revoke token NAME: it stops working at once (it stays in the list, revoked)."""
    _store(ctx).revoke_token(name, now=ctx.clock.now(), by=who(None))
    click.echo(f"token {name} revoked", err=True)
