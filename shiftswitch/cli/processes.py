"""The long-running processes and their checks: ``scheduler``, ``worker``, ``sandbox``, ``demo``
and ``check`` (README: Commands)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

import click

from scheduler.checks import Checker, readers
from scheduler.loop import Scheduler
from scheduler.probes import OutageWatch, Prober
from shiftswitch import health, logs, metrics, redisclient
from shiftswitch.broker import QUEUE
from shiftswitch.budget import RateLimiter
from shiftswitch.cli import demo as demo_module
from shiftswitch.cli.context import EXIT_PROBLEMS, Context, pass_context
from shiftswitch.cli.options import json_option, loglevel_option, metrics_option, roster_option
from shiftswitch.coordination import Leadership
from shiftswitch.notify import service as notify_service
from shiftswitch.outages import Outages
from shiftswitch.settings import DEFAULT_WORKER_CONCURRENCY, ROSTER_SOURCES
from shiftswitch.sources.source import YAML


def configure_logging(level: str) -> None:
    fmt = os.environ.get("SHIFTSWITCH_LOG_FORMAT", "text").strip().lower() or "text"
    if fmt not in logs.FORMATS:
        raise click.ClickException(
            f"SHIFTSWITCH_LOG_FORMAT={fmt!r}: use one of {', '.join(logs.FORMATS)}"
        )
    logs.configure(level, fmt)


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


# -- scheduler and worker ----------------------------------------------------------------------


@click.command()
@roster_option
@click.option(
    "--source",
    type=click.Choice(ROSTER_SOURCES),
    help="Where the roster lives: yaml (the file) or db (the roster tables, see 'roster "
    "import'); default $SHIFTSWITCH_ROSTER_SOURCE or yaml.",
)
@click.option(
    "--tick",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between reads of the roster, holds and pauses (it also wakes at each due "
    "instant).",
)
@click.option(
    "--reconcile-every",
    type=click.FloatRange(5, 86400),
    default=300.0,
    show_default=True,
    help="Seconds between reconciles.",
)
@loglevel_option
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
    """Run the scheduler: record and enqueue each transition at its instant; reconcile.

    Reads the roster file again when it changes, or, with --source db, the roster tables when a
    new version is stored (an invalid edit is refused and the last good roster stays in force).
    Holds and pauses are seen at the next tick. Devices whose state is unknown (never
    confirmed, or a request went unanswered) are read from Exotel before anything is sent to
    them, and every managed device is read every $SHIFTSWITCH_DRIFT_EVERY seconds (default 900;
    0: never), on spare request budget; what drifted is corrected. With several schedulers, one
    leads and does that. Stop with Ctrl-C or SIGTERM.
    """
    configure_logging(loglevel)
    roster_source = ctx.roster_source(roster_path, source)
    path = roster_source.path
    redis = redisclient.client(ctx.settings.redis)
    drift_every = ctx.settings.drift_every
    budget = RateLimiter(redis)
    exotel = readers(ctx.settings)
    sched = Scheduler(
        roster_source,
        ctx.action_store(),
        ctx.dispatcher(),
        reconcile_every=timedelta(seconds=reconcile_every),
        requeue_after=timedelta(seconds=ctx.settings.visibility_timeout + 60),
        checker=Checker(exotel, budget, ctx.clock),
        drift_every=timedelta(seconds=drift_every) if drift_every else None,
        leadership=Leadership(redis),
        outages=OutageWatch(Outages(ctx.engine), Prober(exotel, budget, ctx.clock)),
    )
    if metrics_port:
        metrics.watch_queue(lambda: float(redis.llen(QUEUE)))
        _serve_metrics(metrics_port)
    told = notify_service.configured(ctx.settings.notify_path)
    sched.notify = told
    if told.channels_for("roster_refused"):
        roster_source.on_refused = notify_service.roster_refused(ctx.engine, told, ctx.clock)
    telling = notify_service.start_deliverer(
        ctx.settings, ctx.engine, ctx.clock, "no_worker", "exotel_down", "unknown",
        "rate_limited", "drift",
        roster=lambda: roster_source.roster,
    )  # fmt: skip
    stop = _stop_on_signals()
    logging.getLogger("shiftswitch.scheduler").info("scheduler starting roster=%s", path)
    try:
        sched.run(ctx.clock, stop, tick_seconds=tick)
    finally:
        if telling is not None:
            telling.stop()
    logging.getLogger("shiftswitch.scheduler").info("scheduler stopped")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 1000),
    default=DEFAULT_WORKER_CONCURRENCY,
    show_default=True,
    help="Threads: switches applied at once by this process.",
)
@loglevel_option
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

    Same as 'celery -A worker worker' (the app sets the pool, logging and metrics); further
    arguments go to Celery.
    """
    # Imported here: the other commands never load the worker's modules.
    from worker.app import create_app  # noqa: PLC0415

    configure_logging(loglevel)  # refuses a bad SHIFTSWITCH_LOG_FORMAT before Celery starts
    if metrics_port:  # served here, so that a port in use is a clear error before the start
        _serve_metrics(metrics_port)
    notify_service.configured(ctx.settings.notify_path)  # a bad file: one line, not a start
    app = create_app(ctx.settings)
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel.upper()}",
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
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
@click.option(
    "--jitter-ms",
    type=click.FloatRange(0, 60000),
    default=0.0,
    help="Delay every API request by up to this much more, at random, before its rate limit.",
)
@click.option(
    "--rate-mode",
    type=click.Choice(["window", "strict"]),
    help="How every account's rate limit counts: N per window, or strict (none closer than "
    "1/rate to the last, as nginx limit_req with no burst). Default: each account's rate_mode "
    "in the seed, else window.",
)
def sandbox(
    host: str,
    port: int,
    state_file: str,
    latency_ms: float,
    jitter_ms: float,
    rate_mode: str | None,
) -> None:
    """Run a local Exotel stand-in that enforces the device API's rules.

    For demos, tests and rehearsals: auth, one device ON per user, unverified and unknown
    devices, paging, a per-account rate limit with 429 (per window with Retry-After, or strict
    per request), latency with jitter, and faults switched on
    through PUT /_sandbox/faults (errors, requests held and applied late, devices changed in
    Exotel's app). See the README.
    """
    # The sandbox is a tool beside the product: imported only by the commands that run it.
    from shiftswitch.sandbox.seed import load_seed  # noqa: PLC0415
    from shiftswitch.sandbox.server import Sandbox  # noqa: PLC0415
    from shiftswitch.sandbox.state import SeedError  # noqa: PLC0415

    try:
        seed = load_seed(state_file)
    except SeedError as exc:
        raise click.ClickException(str(exc)) from None
    server = Sandbox(
        seed, host=host, port=port, latency_ms=latency_ms, jitter_ms=jitter_ms, rate_mode=rate_mode
    )
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
    help=f"Comma-separated, from: {', '.join(health.CHECKS)}. Default: "
    f"{','.join(health.DEFAULT_CHECKS)}, and notify when SHIFTSWITCH_NOTIFY is set.",
)
@roster_option
@click.option("--worker", "worker_name", metavar="NAME", help="Ask this worker only (celery@host).")
@click.option(
    "--sandbox-url", default="http://127.0.0.1:8090", show_default=True, help="For 'sandbox'."
)
@click.option("--api-url", default="http://127.0.0.1:8000", show_default=True, help="For 'api'.")
@json_option
@pass_context
def check(
    ctx: Context,
    only: str | None,
    roster_path: str | None,
    worker_name: str | None,
    sandbox_url: str,
    api_url: str,
    as_json: bool,
) -> None:
    """Check that the database is reachable and migrated, Redis answers, the roster is valid
    and a worker answers; exit 0 when all do, 1 otherwise (for health checks)."""
    if only is None:
        only = ",".join(health.DEFAULT_CHECKS) + (",notify" if ctx.settings.notify_path else "")
    names = tuple(n.strip() for n in only.split(",") if n.strip())
    unknown = [n for n in names if n not in health.CHECKS]
    if unknown or not names:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(health.CHECKS)}",
            param_hint="--only",
        )
    settings = ctx.settings
    if roster_path:
        settings = dataclasses.replace(settings, roster_path=roster_path, roster_source=YAML)
    results = health.run(
        settings,
        names,
        ctx.clock.now(),
        worker=worker_name,
        sandbox_url=sandbox_url,
        api_url=api_url,
    )
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    else:
        for r in results:
            click.echo(f"{'ok  ' if r.ok else 'FAIL'}  {r.name:<9} {r.detail}")
    if not all(r.ok for r in results):
        sys.exit(EXIT_PROBLEMS)
