"""Looking at the pipeline: ``reconcile``, ``status`` and ``history`` (README: Commands)."""

from __future__ import annotations

import json

import click

from shiftswitch import drift
from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.cli.options import (
    json_option,
    roster_option,
)
from shiftswitch.operations.reconcile import reconcile_now
from shiftswitch.problems import count
from shiftswitch.queries import newest_actions
from shiftswitch.reports import action_row, change
from shiftswitch.reports import status as report_status
from shiftswitch.sources.store import who

# -- reconcile, status, history ---------------------------------------------------------------


@click.command()
@roster_option
@click.option(
    "--remote",
    is_flag=True,
    help="Also read every managed device's real state from Exotel (GET users, paged, at the "
    "account's request budget) and correct those that drifted; needs the credentials.",
)
@json_option
@pass_context
def reconcile(ctx: Context, roster_path: str | None, remote: bool, as_json: bool) -> None:
    """Reconcile once now: enqueue each managed device whose desired state differs from the
    last one Exotel confirmed (source 'reconcile'); with --remote, from what Exotel says now."""
    done = reconcile_now(ctx, remote=remote, roster_path=roster_path, by=who(None))
    if as_json:
        click.echo(json.dumps(done.as_json()))
        return
    found = done.remote
    click.echo(f"reconcile: {count(done.enqueued, 'action')} enqueued")
    if found is not None:
        click.echo(
            f"remote: {count(found.devices, 'device')} read from Exotel, "
            f"{len(found.findings)} not as wanted, {count(found.enqueued, 'action')} enqueued"
        )
        for f in found.findings:
            click.echo(f"  {_finding(f)}")


def _finding(f: drift.Finding) -> str:
    def state(on: bool | None) -> str:
        return "missing in Exotel" if on is None else "ON" if on else "OFF"

    fix = "; set by an action under way" if f.action is None and f.found is not None else ""
    if f.action:
        fix = f"; {state(f.wanted)} enqueued"
    return f"{f.agent} {f.device}: {state(f.found)}, wanted {state(f.wanted)}{fix}"


@click.command()
@roster_option
@json_option
@click.option(
    "--summary",
    is_flag=True,
    help="Count the devices ON per account instead of listing them (for large floors).",
)
@pass_context
def status(ctx: Context, roster_path: str | None, as_json: bool, summary: bool) -> None:
    """Who is ON now, what is next, what is under way, and recent failures."""
    now = ctx.clock.now()
    roster = ctx.current_roster(roster_path, now)
    report = report_status(ctx.action_store(), roster, now, summary=summary)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"ON now ({report['on_count']}):")
    if summary:
        for account, n in report["on_by_account"].items():
            click.echo(f"  {account:<16} {n}")
    for s in report.get("on", []):
        who, which = s["agent"] or s["user_id"], s["device"] or s["device_id"]
        click.echo(f"  {who:<16} {which:<12} since {s['since']}")
    click.echo("Next:")
    for t in report["next"]:
        state = "ON" if t["available"] else "OFF"
        cause = t["shift"] or t["override"]
        click.echo(f"  {t['at']}  {t['agent']:<16} {t['device']:<12} {state:<3}  {cause}")
    under_way = ", ".join(f"{n} {s}" for s, n in sorted(report["open"].items())) or "none"
    click.echo(f"Under way: {under_way}")
    click.echo(f"Failures in the last 24 h ({len(report['failures'])}):")
    for f in report["failures"]:
        click.echo(
            f"  {f['due_at']}  {f['agent'] or f['user_id']} {f['device'] or f['device_id']} "
            f"{change(f['kind'], f['available'], f['new_contact_uri'])} {f['status']}: "
            f"{f['reason']}"
        )
        if f["advice"]:
            click.echo(f"      {f['advice']['words']} Next: {f['advice']['next']}")
    for o in report["exotel_down"]:
        probed = f", {o['probes']} probe(s) failed since" if o["probes"] else ""
        click.echo(
            f"EXOTEL DOWN: account {o['account']} since {o['since']} ({o['error']}{probed}): "
            "switches wait, and go within seconds of its return"
        )
    for p in report["paused"]:
        scope = f"account {p['account']}" if p["account"] else "every account"
        click.echo(f"PAUSED: {scope} since {p['since']} by {p['by']}: nothing is sent")
    if report["holds"]:
        click.echo(f"Holds ({len(report['holds'])}):")
    for h in report["holds"]:
        state = "ON" if h["available"] else "OFF"
        click.echo(
            f"  {h['agent']:<16} {h['device']:<12} {state:<3}  until {h['until']} ({h['by']})"
        )
    remote = report["remote"]
    if remote is None:
        click.echo(
            "Drift: no check yet (the scheduler checks every SHIFTSWITCH_DRIFT_EVERY seconds; "
            "'shiftswitch reconcile --remote' checks now)"
        )
    else:
        how = "drift check" if remote["kind"] == "drift" else "remote check"
        click.echo(
            f"Drift at the last {how} ({remote['at']}, "
            f"{count(remote['devices'], 'device')} read): {remote['drifted']}"
        )
        for f in remote["findings"]:
            click.echo(f"  {_finding(drift.Finding(**f))}")
    if report["unknown"]:
        click.echo(
            f"Unknown: {count(report['unknown'], 'device')} whose request went unanswered, "
            "to be read back"
        )
    for read in report["reads"]:
        click.echo(f"Found at a {read['kind']} ({read['at']}): {read['drifted']} not as wanted")
        for f in read["findings"]:
            click.echo(f"  {_finding(drift.Finding(**f))}")


@click.command()
@click.argument("agent", required=False)
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@json_option
@pass_context
def history(ctx: Context, agent: str | None, limit: int, as_json: bool) -> None:
    """The latest actions, newest first (of AGENT when given), with their outcome."""
    with ctx.action_store().sessions() as session:
        actions = newest_actions(session, limit, agent=agent)
    if as_json:
        click.echo(json.dumps([action_row(a) for a in actions], indent=2))
        return
    if not actions:
        click.echo("no actions recorded" + (f" for {agent}" if agent else ""), err=True)
        return
    table(
        ("DUE (UTC)", "AGENT", "DEVICE", "STATE", "SOURCE", "STATUS", "TRIES", "HTTP", "DETAIL"),
        [
            (
                f"{a.due_at:%Y-%m-%d %H:%M:%S}",
                a.agent or f"#{a.user_id}",
                a.device or f"#{a.device_id}",
                change(a.kind, a.wants_on, a.new_contact_uri),
                a.source,
                a.status,
                str(a.attempts),
                str(a.last_http_code or ""),
                (a.reason or a.error_description or "")[:80],
            )
            for a in actions
        ],
    )
