"""The commands that run and watch the pipeline: scheduler, worker, sandbox, device, reconcile,
status and history (SPEC §7)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from redis import Redis
from sqlalchemy import select

from scheduler.loop import RosterFile, RosterSource, RosterTables, Scheduler
from shiftswitch import demo as demo_module
from shiftswitch import drift, health, logs, metrics, numbers, yamldoc
from shiftswitch.actions import NewAction, Store
from shiftswitch.broker import QUEUE, CeleryDispatcher, make_celery
from shiftswitch.cli_context import EXIT_PROBLEMS, Context, count, pass_context, table
from shiftswitch.cli_roster import by_option, current_roster, reads_stored, roster_store
from shiftswitch.controls import Controls
from shiftswitch.coordination import RateLimiter
from shiftswitch.db import make_engine
from shiftswitch.exotel import ExotelClient
from shiftswitch.loader import read_text
from shiftswitch.models import FINAL_STATUSES, Action, Status
from shiftswitch.reports import UsageProblem, action_row, change, manual_action
from shiftswitch.reports import history as report_history
from shiftswitch.reports import status as report_status
from shiftswitch.roster import Account, parse_instant
from shiftswitch.roster_store import who
from shiftswitch.sandbox import Sandbox, SeedError, load_seed
from shiftswitch.settings import CONNECT_TIMEOUT, ROSTER_SOURCES, credentials


def register(cli: click.Group) -> None:
    for command in (
        scheduler,
        worker,
        sandbox,
        demo,
        check,
        device,
        pause,
        resume,
        reconcile,
        status,
        history,
    ):
        cli.add_command(command)


def _logging(level: str) -> None:
    fmt = os.environ.get("SHIFTSWITCH_LOG_FORMAT", "text").strip().lower() or "text"
    if fmt not in logs.FORMATS:
        raise click.ClickException(
            f"SHIFTSWITCH_LOG_FORMAT={fmt!r}: use one of {', '.join(logs.FORMATS)}"
        )
    logs.configure(level, fmt)


def _store(ctx: Context) -> Store:
    return Store(make_engine(ctx.settings.database_url))


def _dispatcher(ctx: Context) -> CeleryDispatcher:
    return CeleryDispatcher(make_celery(ctx.settings))


def _serve_metrics(port: int) -> None:
    try:
        metrics.serve(port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on port {port}: {exc.strerror}") from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


roster_option = click.option(
    "--roster",
    "roster_path",
    metavar="FILE",
    help="Roster file (default: $SHIFTSWITCH_ROSTER or schedules.yaml).",
)
metrics_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="SHIFTSWITCH_METRICS_PORT",
    help="Serve Prometheus metrics on this port (/metrics); env SHIFTSWITCH_METRICS_PORT.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
wait_option = click.option("--wait", is_flag=True, help="Wait for the result and print it.")
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=120.0,
    show_default=True,
    help="With --wait: seconds.",
)


# -- scheduler and worker ----------------------------------------------------------------------


def _roster_source(ctx: Context, roster_path: str | None, source: str | None) -> RosterSource:
    """The scheduler's roster: a file given with --roster, else --source (or
    SHIFTSWITCH_ROSTER_SOURCE): the file at SHIFTSWITCH_ROSTER, or the roster tables."""
    if roster_path is None and (source or ctx.settings.roster_source) == "db":
        return RosterTables(roster_store(ctx))
    return RosterFile(roster_path or ctx.settings.roster_path)


@click.command()
@roster_option
@click.option(
    "--source",
    type=click.Choice(ROSTER_SOURCES),
    help="Where the roster lives: yaml (the file) or db (the roster tables, see 'roster "
    "import'); default $SHIFTSWITCH_ROSTER_SOURCE or yaml.",
)
@click.option(
    "--tick", type=click.FloatRange(0.05, 60), default=1.0, show_default=True, help="Seconds."
)
@click.option(
    "--reconcile-every",
    type=click.FloatRange(5, 86400),
    default=300.0,
    show_default=True,
    help="Seconds between reconciles.",
)
@click.option("--loglevel", default="info", show_default=True, help="debug, info, warning, error.")
@metrics_option
@pass_context
def scheduler(
    ctx: Context,
    roster_path: str | None,
    source: str | None,
    tick: float,
    reconcile_every: float,
    loglevel: str,
    metrics_port: int | None,
) -> None:
    """Run the scheduler: record and enqueue each transition when due; reconcile.

    Reads the roster file again when it changes, or, with --source db, the roster tables when a
    new version is stored (an invalid edit is refused and the last good roster stays in force).
    Holds and pauses are seen at the next tick. Stop with Ctrl-C or SIGTERM.
    """
    _logging(loglevel)
    roster_source = _roster_source(ctx, roster_path, source)
    path = roster_source.path
    sched = Scheduler(
        roster_source,
        _store(ctx),
        _dispatcher(ctx),
        reconcile_every=timedelta(seconds=reconcile_every),
        requeue_after=timedelta(seconds=ctx.settings.visibility_timeout + 60),
    )
    if metrics_port:
        redis = Redis.from_url(ctx.settings.redis_url)
        metrics.watch_queue(lambda: float(redis.llen(QUEUE)))
        _serve_metrics(metrics_port)
    stop = _stop_on_signals()
    logging.getLogger("shiftswitch.scheduler").info("scheduler starting roster=%s", path)
    sched.run(ctx.clock, stop, tick_seconds=tick)
    logging.getLogger("shiftswitch.scheduler").info("scheduler stopped")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 1000),
    default=32,
    show_default=True,
    help="Threads: switches applied at once by this process.",
)
@click.option("--loglevel", default="info", show_default=True, help="debug, info, warning, error.")
@metrics_option
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@pass_context
def worker(
    ctx: Context,
    concurrency: int,
    loglevel: str,
    metrics_port: int | None,
    celery_args: tuple[str, ...],
) -> None:
    """Run a Celery worker that applies switches (a pool of threads: most of a switch is
    spent waiting for Exotel and for the account's request budget).

    Same as 'celery -A worker.app worker --pool threads'; further arguments go to Celery.
    """
    # Imported here: the other commands never load the worker's modules.
    from worker.app import create_app  # noqa: PLC0415

    _logging(loglevel)
    if logging.getLogger().level > logging.DEBUG:
        # Celery's "Task ... received" and "... succeeded" lines say less than the worker's
        # own line per action (agent, device, state, status), and cost as much to write.
        for name in ("celery.worker.strategy", "celery.app.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if metrics_port:
        _serve_metrics(metrics_port)
    app = create_app(ctx.settings)
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel.upper()}",
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
        *celery_args,
    ]
    app.worker_main(argv)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True)
@click.option(
    "--state",
    "state_file",
    metavar="FILE",
    default="sandbox.yaml",
    show_default=True,
    help="Accounts, users and devices to start with.",
)
@click.option(
    "--latency-ms", type=click.FloatRange(0, 60000), default=0.0, help="Delay every API request."
)
def sandbox(host: str, port: int, state_file: str, latency_ms: float) -> None:
    """Run a local Exotel stand-in that enforces the device API's rules.

    For demos, tests and rehearsals: auth, one device ON per user, unverified and unknown
    devices, paging, a per-account rate limit with 429 and Retry-After, and faults switched on
    through PUT /_sandbox/faults. See the README.
    """
    try:
        seed = load_seed(state_file)
    except SeedError as exc:
        raise click.ClickException(str(exc)) from None
    server = Sandbox(seed, host=host, port=port, latency_ms=latency_ms)
    stop = _stop_on_signals()
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    accounts = ", ".join(seed.accounts)
    click.echo(f"sandbox listening on {server.url} (accounts {accounts}); Ctrl-C stops", err=True)
    stop.wait()
    server.stop()


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".demo",
    show_default=True,
    help="Where the demo keeps its database, roster, seed and worker log (emptied at start).",
)
@click.option(
    "--redis-url",
    default=demo_module.DEMO_REDIS_URL,
    show_default=True,
    help="A Redis database for the demo alone: it is flushed at start.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8090,
    show_default=True,
    help="The sandbox's port (any free one if it is taken).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Stop by itself after this long (default: at Ctrl-C).",
)
def demo(directory: str, redis_url: str, port: int, duration: float | None) -> None:
    """Run the whole system locally against the sandbox, shifts flipping every minute.

    The sandbox, a worker and the scheduler, on SQLite and Redis; each switch is printed as it
    happens. Ctrl-C stops everything cleanly.
    """
    stop = threading.Event()
    settings = demo_module.Demo(Path(directory).resolve(), redis_url=redis_url, port=port)
    with demo_module.interrupt_sets(stop):
        try:
            shown = demo_module.run(settings, sys.stdout, stop, duration)
        except demo_module.DemoError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"\ndemo stopped: {shown} switches shown. Its files are in {directory}/; e.g. "
        f"DATABASE_URL={settings.database_url} shiftswitch history"
    )


@click.command()
@click.option(
    "--only",
    metavar="LIST",
    default=",".join(health.DEFAULT_CHECKS),
    show_default=True,
    help=f"Comma-separated, from: {', '.join(health.CHECKS)}.",
)
@roster_option
@click.option("--worker", "worker_name", metavar="NAME", help="Ask this worker only (celery@host).")
@click.option(
    "--sandbox-url", default="http://127.0.0.1:8090", show_default=True, help="For 'sandbox'."
)
@json_option
@pass_context
def check(
    ctx: Context,
    only: str,
    roster_path: str | None,
    worker_name: str | None,
    sandbox_url: str,
    as_json: bool,
) -> None:
    """Check that the database is reachable and migrated, Redis answers, the roster is valid
    and a worker answers; exit 0 when all do, 1 otherwise (for health checks)."""
    names = tuple(n.strip() for n in only.split(",") if n.strip())
    unknown = [n for n in names if n not in health.CHECKS]
    if unknown or not names:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(health.CHECKS)}",
            param_hint="--only",
        )
    settings = ctx.settings
    if roster_path:
        settings = dataclasses.replace(settings, roster_path=roster_path, roster_source="yaml")
    results = health.run(
        settings, names, ctx.clock.now(), worker=worker_name, sandbox_url=sandbox_url
    )
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    else:
        for r in results:
            click.echo(f"{'ok  ' if r.ok else 'FAIL'}  {r.name:<9} {r.detail}")
    if not all(r.ok for r in results):
        sys.exit(EXIT_PROBLEMS)


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
        roster = current_roster(ctx, roster_path, now)
        if agent is not None and (user_id or device_id):
            raise click.UsageError("give AGENT [DEVICE] or --user/--device, not both")
        hold_until = None
        if until is not None:
            if agent is None:
                raise click.UsageError("--until holds a roster device: give AGENT [DEVICE]")
            hold_until = parse_instant(until, roster.zone)
            if hold_until is None or hold_until <= now:
                raise click.BadParameter(
                    f"{until!r} is not a date-time after now; write e.g. 2026-12-01T18:00",
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

        def hold(store: Store, action: Action) -> None:
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
    stored = reads_stored(ctx, roster_path)
    roster = current_roster(ctx, roster_path, now)
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
    store = roster_store(ctx)
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
    recorded: Callable[[Store, Action], None] | None = None,
) -> Action | None:
    """Record and enqueue an on-demand action; print it queued, or with ``wait`` its result.
    ``recorded`` is called once it is recorded; None when a pause keeps it from being sent."""
    store = _store(ctx)
    store.record([new], now)
    with store.sessions() as session:
        action = session.scalars(select(Action).where(Action.key == new.key)).one()
    if recorded is not None:
        recorded(store, action)
    if not store.enqueue([new.key], _dispatcher(ctx), now):
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


account_option = click.option(
    "--account", metavar="NAME", help="Only this roster account (default: every account)."
)


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
    now = ctx.clock.now()
    store, dispatcher = _store(ctx), _dispatcher(ctx)
    sched = Scheduler(_roster_source(ctx, roster_path, None), store, dispatcher)
    report = sched.start(now)
    found = None
    if remote:
        try:
            found = drift.check(
                sched.roster, sched.desired(now), store, dispatcher, _paced_client(ctx), now
            )
        except drift.RemoteError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        out: dict[str, Any] = {"enqueued": report.reconciled, "stranded": report.enqueued}
        if found is not None:
            out["remote"] = {
                "devices": found.devices,
                "enqueued": found.enqueued,
                "findings": [f.__dict__ for f in found.findings],
            }
        click.echo(json.dumps(out))
        return
    click.echo(f"reconcile: {count(report.reconciled, 'action')} enqueued")
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


def _paced_client(ctx: Context) -> Callable[[Account], ExotelClient]:
    """Exotel clients that wait for the account's request budget, shared with the workers."""
    limiter = RateLimiter(Redis.from_url(ctx.settings.redis_url))

    def client(account: Account) -> ExotelClient:
        def pace() -> None:
            _reserved, wait = limiter.reserve(
                f"{account.base_url}/{account.sid}", account.rate_limit, max_wait=3600
            )
            time.sleep(wait)

        return ExotelClient(
            account.base_url,
            account.sid,
            credentials(account.name),
            timeout=(CONNECT_TIMEOUT, ctx.settings.http_timeout),
            pace=pace,
        )

    return client


@click.command()
@roster_option
@json_option
@pass_context
def status(ctx: Context, roster_path: str | None, as_json: bool) -> None:
    """Who is ON now, what is next, what is under way, and recent failures."""
    now = ctx.clock.now()
    roster = current_roster(ctx, roster_path, now)
    report = report_status(_store(ctx), roster, now)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"ON now ({len(report['on'])}):")
    for s in report["on"]:
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
        click.echo("Drift: no remote check yet ('shiftswitch reconcile --remote')")
    else:
        click.echo(
            f"Drift at the last remote check ({remote['at']}, "
            f"{count(remote['devices'], 'device')} read): {remote['drifted']}"
        )
        for f in remote["findings"]:
            click.echo(f"  {_finding(drift.Finding(**f))}")


@click.command()
@click.argument("agent", required=False)
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@json_option
@pass_context
def history(ctx: Context, agent: str | None, limit: int, as_json: bool) -> None:
    """The latest actions, newest first (of AGENT when given), with their outcome."""
    actions = report_history(_store(ctx), agent, limit)
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
                change(a.kind, a.available, a.new_contact_uri),
                a.source,
                a.status,
                str(a.attempts),
                str(a.last_http_code or ""),
                (a.reason or a.error_description or "")[:80],
            )
            for a in actions
        ],
    )
