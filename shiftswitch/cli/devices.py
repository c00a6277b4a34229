"""On-demand actions: ``device on|off|set-number`` through the worker's task path (source
``manual``), and ``pause`` / ``resume`` per account (README: Commands)."""

from __future__ import annotations

import json
import sys

import click

from shiftswitch import numbers
from shiftswitch.actions import NewAction
from shiftswitch.cli.context import EXIT_PROBLEMS, Context, pass_context
from shiftswitch.cli.options import (
    account_option,
    by_option,
    json_option,
    roster_option,
    timeout_option,
    wait_option,
)
from shiftswitch.models import Action, Status
from shiftswitch.operations import devices
from shiftswitch.problems import count
from shiftswitch.reports import action_row
from shiftswitch.roster import yamldoc
from shiftswitch.roster.loader import read_text
from shiftswitch.sources.store import who

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
    @click.option("--reason", metavar="TEXT", help="Why (one line): shown with the hold.")
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
        reason: str | None,
        by: str | None,
        wait: bool,
        timeout: float,
        roster_path: str | None,
        as_json: bool,
    ) -> None:
        roster = ctx.current_roster(roster_path, ctx.clock.now())
        submitted = devices.switch(
            ctx,
            roster,
            available,
            by=who(by),
            agent=agent,
            device=device_name,
            account=account,
            user_id=user_id,
            device_id=device_id,
            until=until,
            reason=reason,
        )
        final = _report(ctx, submitted, wait, timeout, as_json)
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
    path = roster_path or ctx.settings.roster_path
    stored = ctx.reads_stored(roster_path)
    now = ctx.clock.now()
    roster = ctx.current_roster(roster_path, now)
    new = devices.number_change(roster, agent, device_name, number, now)
    click.echo(numbers.before(new), err=True)
    submitted = devices.submit(ctx, new, f"{agent} {device_name} number {number}", now)
    final = _report(ctx, submitted, wait, timeout, as_json)
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


def _report(
    ctx: Context, submitted: devices.Submitted, wait: bool, timeout: float, as_json: bool
) -> Action | None:
    """Print an on-demand action queued, or with ``wait`` its result; None when a pause keeps
    it from being sent."""
    action = submitted.action
    if not submitted.sent:
        click.echo(devices.paused_message(submitted))
        return None
    if not wait:
        click.echo(
            json.dumps(action_row(action))
            if as_json
            else f"action {action.id} queued: {submitted.what}"
        )
        return action
    if not as_json:
        click.echo(f"action {action.id} queued: {submitted.what}; waiting...", err=True)
    final = devices.wait_for(ctx, action.id, timeout)
    click.echo(
        json.dumps(action_row(final)) if as_json else devices.result_line(final, submitted.what)
    )
    return final


# -- pause and resume ---------------------------------------------------------------------------


@click.command()
@account_option
@by_option
@pass_context
def pause(ctx: Context, account: str | None, by: str | None) -> None:
    """Stop sending: switches are still recorded (status pending) but none is sent until
    'shiftswitch resume'; workers leave alone what was already queued."""
    paused = ctx.controls().pause(account, who(by), ctx.clock.now())
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
    ended, superseded = ctx.controls().resume(account, who(by), ctx.clock.now())
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
