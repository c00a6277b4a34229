"""On-demand actions: ``device on|off|set-number`` through the worker's task path (source
``manual``), and ``pause`` / ``resume`` per account (SPEC §7)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select

from shiftswitch import numbers
from shiftswitch.actions import ActionStore, NewAction
from shiftswitch.cli.context import EXIT_PROBLEMS, Context, pass_context
from shiftswitch.cli.options import (
    account_option,
    by_option,
    json_option,
    roster_option,
    timeout_option,
    wait_option,
)
from shiftswitch.db import make_engine
from shiftswitch.holds import Controls
from shiftswitch.models import FINAL_STATUSES, Action, Status
from shiftswitch.problems import count
from shiftswitch.reports import UsageProblem, action_row, manual_action
from shiftswitch.roster import yamldoc
from shiftswitch.roster.fields import LATEST, within_calendar
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.model import parse_instant
from shiftswitch.roster.store import who

# -- on demand ----------------------------------------------------------------------------------


@click.group()
def device() -> None:
    """Switch a device now, or change its number, through the same path as the scheduler
    (source 'manual')."""


def _device_command(available: bool) -> click.Command:
    state = "ON" if available else "OFF"

    @click.command(name=state.lower())
    @click.argument("agent", required=False)
    @click.argument("device_name", metavar="[DEVICE]", required=False)
    @click.option("--account", help="Roster account of --user/--device.")
    @click.option("--user", "user_id", metavar="ID", help="Exotel user id (instead of AGENT).")
    @click.option("--device", "device_id", metavar="ID", help="Exotel device id (with --user).")
    @click.option(
        "--until",
        metavar="T",
        help="Hold the device so until T (ISO date-time or date, roster zone unless it has an "
        "offset): the scheduler does not undo it, and applies the roster again at T.",
    )
    @by_option
    @wait_option
    @timeout_option
    @roster_option
    @json_option
    @pass_context
    def command(
        ctx: Context,
        agent: str | None,
        device_name: str | None,
        account: str | None,
        user_id: str | None,
        device_id: str | None,
        until: str | None,
        by: str | None,
        wait: bool,
        timeout: float,
        roster_path: str | None,
        as_json: bool,
    ) -> None:
        now = ctx.clock.now()
        roster = ctx.current_roster(roster_path, now)
        if agent is not None and (user_id or device_id):
            raise click.UsageError("give AGENT [DEVICE] or --user/--device, not both")
        hold_until = None
        if until is not None:
            if agent is None:
                raise click.UsageError("--until holds a roster device: give AGENT [DEVICE]")
            hold_until = parse_instant(until, roster.zone)
            if hold_until is None or hold_until <= now or not within_calendar(hold_until):
                raise click.BadParameter(
                    f"{until!r} is not a date-time after now, before {LATEST:%Y-%m-%d}; "
                    "write e.g. 2026-12-01T18:00",
                    param_hint="--until",
                )
        try:
            new = manual_action(
                roster,
                available,
                now,
                agent=agent,
                device=device_name,
                account=account or (next(iter(roster.accounts)) if user_id else None),
                user_id=user_id,
                device_id=device_id,
            )
        except UsageProblem as exc:
            raise click.UsageError(str(exc)) from None
        held = (
            f", held until {hold_until.astimezone(roster.zone):%Y-%m-%d %H:%M %Z}"
            if hold_until
            else ""
        )
        what = f"{new.agent or new.user_id} {new.device or new.device_id} {state}{held}"

        def hold(store: ActionStore, action: Action) -> None:
            if new.agent is not None and new.device is not None:
                # A manual switch ends the device's hold; with --until it starts a new one.
                Controls(store.engine).hold(
                    account=new.account,
                    agent=new.agent,
                    device=new.device,
                    available=available,
                    now=now,
                    until=hold_until,
                    by=who(by),
                    action_id=action.id,
                )

        final = _submit(ctx, new, what, now, wait, timeout, as_json, recorded=hold)
        if wait and final is not None and final.status != Status.SUCCEEDED:
            sys.exit(EXIT_PROBLEMS)

    command.__doc__ = (
        f"Turn a device {state}: AGENT [DEVICE] from the roster (DEVICE may be left out when "
        "the agent has one), or --user ID --device ID [--account NAME]. With --until T the "
        "scheduler keeps it so until T; without, the roster applies again at the next "
        "reconcile (and any hold on the device ends)."
    )
    return command


device.add_command(_device_command(True))
device.add_command(_device_command(False))


@device.command("set-number")
@click.argument("agent")
@click.argument("device_name", metavar="DEVICE")
@click.argument("number")
@wait_option
@timeout_option
@roster_option
@json_option
@pass_context
def set_number(
    ctx: Context,
    agent: str,
    device_name: str,
    number: str,
    wait: bool,
    timeout: float,
    roster_path: str | None,
    as_json: bool,
) -> None:
    """Give a roster device a new number (Exotel's contact_uri): NUMBER in E.164, +919953125068.

    Exotel stops routing calls to the old number at once, and routes none to the new one until
    the device is verified again. A roster stored in the database that gives the device by its
    number follows the change (a new version); a roster file is yours to edit (the command says
    which line). Exit 1 when Exotel refuses (409: the number is another device's; 403: not a
    phone device), 2 for a bad NUMBER, AGENT or DEVICE.
    """
    if (problem := numbers.number_problem(number)) is not None:
        raise click.UsageError(problem)
    now = ctx.clock.now()
    path = roster_path or ctx.settings.roster_path
    stored = ctx.reads_stored(roster_path)
    roster = ctx.current_roster(roster_path, now)
    try:
        new = numbers.number_action(roster, agent, device_name, number, now)
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(numbers.before(new), err=True)
    final = _submit(ctx, new, f"{agent} {device_name} number {number}", now, wait, timeout, as_json)
    if final is None:
        return
    if wait and final.status != Status.SUCCEEDED:
        sys.exit(EXIT_PROBLEMS)
    click.echo(numbers.after(new, done=wait), err=as_json or not wait)
    if new.contact_uri is None:
        return  # the roster gives the device id, which stays the same
    if stored:
        click.echo(_stored_roster_after(ctx, new, final, done=wait), err=as_json or not wait)
        return
    line = yamldoc.load(read_text(path)).line(("agents", agent, "devices", device_name))
    text = numbers.roster_edit(new, path, line, done=wait)
    if text:
        click.echo(text, err=as_json or not wait)


def _stored_roster_after(ctx: Context, new: NewAction, action: Action, *, done: bool) -> str:
    """What became of the stored roster, which gives the device by its number: the worker
    gives it the new number, as a new version, with the change's success."""
    entry = f"{new.agent} {new.device}"
    if not done:
        return f"once it succeeds, the stored roster gives {entry} as {new.new_contact_uri}"
    source = numbers.renumber_source(new.agent, new.device, action.id)
    store = ctx.roster_store()
    version = store.version_from(source)
    if version is None:
        agent = store.current()[1].agents.get(new.agent or "")
        device = agent.devices.get(new.device or "") if agent is not None else None
        if device is None or device.ref != new.contact_uri:
            return f"the stored roster no longer gives {entry} as {new.contact_uri}; left as it is"
        return (
            f"the stored roster still gives {entry} as {new.contact_uri}: the worker did not "
            "change it (its SHIFTSWITCH_ROSTER_SOURCE is not db, or its log says why: "
            "roster_not_renumbered); until it is changed "
            "('shiftswitch roster export', edit, 'roster import'), switches of "
            f"{entry} look for the old number and fail"
        )
    return (
        f"stored roster version {version.number} gives {entry} as {new.new_contact_uri} "
        f"({version.summary})"
    )


def _submit(
    ctx: Context,
    new: NewAction,
    what: str,
    now: datetime,
    wait: bool,
    timeout: float,
    as_json: bool,
    recorded: Callable[[ActionStore, Action], None] | None = None,
) -> Action | None:
    """Record and enqueue an on-demand action; print it queued, or with ``wait`` its result.
    ``recorded`` is called once it is recorded; None when a pause keeps it from being sent."""
    store = ctx.action_store()
    store.record([new], now)
    with store.sessions() as session:
        action = session.scalars(select(Action).where(Action.key == new.key)).one()
    if recorded is not None:
        recorded(store, action)
    if not store.enqueue([new.key], ctx.dispatcher(), now):
        click.echo(
            f"action {action.id} recorded, not sent: sending is paused for account "
            f"{action.account} ('shiftswitch resume' to send again): {what}"
        )
        return None
    if not wait:
        click.echo(
            json.dumps(action_row(action)) if as_json else f"action {action.id} queued: {what}"
        )
        return action
    if not as_json:
        click.echo(f"action {action.id} queued: {what}; waiting...", err=True)
    final = _wait_for(store, action.id, timeout)
    click.echo(json.dumps(action_row(final)) if as_json else _result_line(final, what))
    return final


# -- pause and resume ---------------------------------------------------------------------------


@click.command()
@account_option
@by_option
@pass_context
def pause(ctx: Context, account: str | None, by: str | None) -> None:
    """Stop sending: switches are still recorded (status pending) but none is sent until
    'shiftswitch resume'; workers leave alone what was already queued."""
    paused = Controls(make_engine(ctx.settings.database_url)).pause(
        account, who(by), ctx.clock.now()
    )
    scope = f"account {account}" if account else "every account"
    if paused is None:
        click.echo(f"{scope}: already paused (see 'shiftswitch status')")
        return
    click.echo(f"paused {scope}: switches are recorded, not sent, until 'shiftswitch resume'")


@click.command()
@account_option
@by_option
@pass_context
def resume(ctx: Context, account: str | None, by: str | None) -> None:
    """Send again. What was recorded during the pause is superseded, and the scheduler applies
    the present desired state at its next tick (as after a restart), not each missed switch."""
    ended, superseded = Controls(make_engine(ctx.settings.database_url)).resume(
        account, who(by), ctx.clock.now()
    )
    if not ended:
        scope = f"account {account}" if account else "any account"
        raise click.ClickException(f"no pause in force for {scope} (see 'shiftswitch status')")
    for p in ended:
        scope = f"account {p.account}" if p.account else "every account"
        since = f"{p.paused_at:%Y-%m-%d %H:%M:%S}Z"
        click.echo(f"resumed {scope} (paused since {since} by {p.paused_by})")
    click.echo(
        f"{count(superseded, 'action')} recorded while paused superseded; the scheduler "
        "reconciles to the present state at its next tick"
    )


def _wait_for(store: Any, action_id: int, timeout: float) -> Action:
    deadline = time.monotonic() + timeout
    while True:
        with store.sessions() as session:
            action: Action = session.get_one(Action, action_id)
        if action.status in FINAL_STATUSES:
            return action
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"action {action_id} is still {action.status} after {timeout:g} s "
                "(is a worker running? see 'shiftswitch history')"
            )
        time.sleep(0.2)


def _result_line(a: Action, what: str) -> str:
    took = ""
    if a.finished_at and a.enqueued_at:
        took = f", {(a.finished_at - a.enqueued_at).total_seconds():.1f} s"
    tries = count(a.attempts, "attempt")
    if a.status == Status.SUCCEEDED:
        return f"succeeded: {what} (HTTP {a.last_http_code}, {tries}{took})"
    detail = a.reason or a.error_description or ""
    return f"{a.status}: {what} ({tries}{took}): {detail}"
