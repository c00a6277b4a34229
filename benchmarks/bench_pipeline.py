"""Pipeline benchmark: one shift boundary switching N devices ON, end to end, against the sandbox.

What runs is the real pipeline, as ``tests/pipeline.py`` runs it:

- the sandbox as a subprocess (``python -m shiftswitch sandbox``), with ``--latency-ms`` (50) on
  every API request (plus up to ``--jitter-ms``, 0, at random) and, with ``--rate``, the same
  per-account limit as the roster, counted as ``--rate-mode`` says (``window``; or ``strict``);
- ``--workers`` (1) worker processes (``python -m shiftswitch worker --concurrency C``, C = 32,
  the CLI default), with the product's default settings (timeouts, retries, lock TTL); with
  ``--worker-code DIR``, the workers run the code of that checkout (an earlier version, say);
- the scheduler in this process, on a :class:`~shiftswitch.clock.FixedClock`, with a
  :class:`~shiftswitch.broker.CeleryDispatcher` on Redis database ``--redis-db`` (14; flushed
  before and after);
- a fresh database: a SQLite file in a temporary directory, or with ``--database URL`` a fresh
  PostgreSQL database created on that server and dropped afterwards.

Setup (not timed): N sandbox users ``u-<i>`` with one verified device each, all OFF; a roster of
one account (sid ``acme_corp``, base_url the sandbox, ``rate_limit`` = ``--rate``, or
``100000/s`` when no rate is given, which never makes anyone wait), N agents with one device
each, and one shift at 09:00 UTC for all; the migrations; a confirmed OFF ``device_states`` row
for every device, so that the scheduler's start-up reconcile finds nothing to send. The
scheduler starts at 08:59:59; the workers are up (``ready.``) before it does.

Measured from the scheduler's tick at 09:00:00 (N actions due):

- the tick itself: recording the N actions, claiming them and sending the N task messages
  (``record``, ``claim``, ``dispatch`` timed separately by wrapping the ActionStore and dispatcher);
- completion: until every action is final. The database is polled every 0.1 s; the figure
  reported is the last action's ``finished_at`` (stamped by the worker's real clock) minus the
  wall-clock instant the tick began, with the polled figure alongside;
- lateness per action: ``finished_at`` minus the instant of the boundary. The scheduler runs on
  a fixed clock (its 09:00:00 is not the real time), so the boundary instant is taken as the
  real wall-clock instant at which the tick began, which is when a real scheduler ticking at
  09:00:00 would start it;
- from the sandbox's request log: 429s and other non-200 answers, the first and last request,
  and the most requests in flight at once;
- with ``--rate``: the floor (N / rate: no run can be faster without a 429) and how far above
  it the run finished;
- CPU seconds used during the boundary by each process started here, by this process, by the
  Redis server and (PostgreSQL) by the server's processes, and how busy the whole machine was
  (Linux ``/proc``).

If another program flushes the Redis database during the run (the task messages would be
lost), a sentinel key disappears and the run stops with a message: pick another ``--redis-db``.
``--keep`` keeps the temporary directory (worker and sandbox logs, seed, roster).

    python benchmarks/bench_pipeline.py                         # 2,000 devices, SQLite
    python benchmarks/bench_pipeline.py --rate 6000/min         # 20 s floor, sandbox limited
    python benchmarks/bench_pipeline.py --database postgresql+psycopg://postgres@127.0.0.1/postgres
    python benchmarks/bench_pipeline.py --workers 2 --concurrency 64 --json

Exits 1 if the run fails: a process does not start, the boundary does not finish within
``--timeout`` seconds, or an action does not succeed. Every process started here is stopped on
the way out, also on Ctrl-C and on errors.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from sqlalchemy import Engine, func, select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import Timed, database, gaps, max_in_flight, measured, percentile
from one_account import (
    ACCOUNT,
    API_KEY,
    API_TOKEN,
    BOUNDARY,
    SID,
    START,
    UNLIMITED,
    confirm_all_off,
    device_id,
    write_seed,
)
from processes import Processes, cpu_now, start_sandbox, start_workers

from scheduler.loop import Scheduler
from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import OPEN_STATUSES, Action, Attempt
from shiftswitch.pacing import parse_rate
from shiftswitch.roster.model import parse_duration
from shiftswitch.settings import Settings
from shiftswitch.sources.source import RosterFile

POLL = 0.1
DEFAULT_CONCURRENCY = 32  # `shiftswitch worker --concurrency` default


# -- the world: seed, roster, database ---------------------------------------------------------


def write_roster(path: Path, n: int, base_url: str, rate: str, ramp: str | None = None) -> None:
    ramped = f", ramp: '{ramp}'" if ramp else ""
    lines = [
        "version: 1",
        "timezone: UTC",
        "accounts:",
        f"  {ACCOUNT}: {{sid: {SID}, base_url: '{base_url}', rate_limit: '{rate}'{ramped}}}",
        "agents:",
    ]
    lines += [
        f"  a{i}: {{account: {ACCOUNT}, user_id: 'u-{i}', devices: {{desk: '{device_id(i)}'}}}}"
        for i in range(n)
    ]
    lines += [
        "shifts:",
        "  - name: am",
        "    start: '0 9 * * *'",
        "    duration: 8h",
        "    members:",
    ]
    lines += [f"      - a{i}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


SENTINEL = "bench_pipeline:sentinel"  # gone if someone else flushes the Redis database


@contextmanager
def redis_db(url: str) -> Iterator[str]:
    redis = Redis.from_url(url)
    redis.flushdb()
    redis.set(SENTINEL, "1")
    try:
        yield url
    finally:
        redis.flushdb()


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Raw:
    """What one boundary left behind, before it is reduced to figures."""

    database: str
    wall0: float  # time.time() when the tick began
    tick_s: float
    polled_s: float
    parts: dict[str, Timed]
    cpu_s: dict[str, float]
    load_before: float
    messages: int  # task messages the tick sent
    actions: list[Action] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)


def wait_until_final(
    engine: Engine, n: int, t0: float, args: argparse.Namespace, procs: Processes, redis_url: str
) -> float:
    """Poll until no action is open; seconds since ``t0`` (perf_counter) when seen."""
    redis = Redis.from_url(redis_url)
    open_q = select(func.count()).select_from(Action).where(Action.status.in_(OPEN_STATUSES))
    progress = t0
    while True:
        with engine.connect() as conn:
            still_open = conn.scalar(open_q) or 0
        now = time.perf_counter()
        if still_open == 0:
            return now - t0
        procs.check()
        if not redis.exists(SENTINEL):
            raise RuntimeError(
                f"Redis database {args.redis_db} was flushed during the run (by another "
                "program?); the task messages are lost: use another --redis-db"
            )
        if now - t0 > args.timeout:
            raise RuntimeError(f"timed out after {args.timeout:g} s: {still_open} of {n} open")
        if now - progress >= 5:
            progress = now
            print(f"  {now - t0:5.1f} s: {n - still_open:,} of {n:,} final", file=sys.stderr)
        time.sleep(POLL)


def world(
    procs: Processes,
    args: argparse.Namespace,
    tmp: Path,
    db_url: str,
    redis_url: str,
    roster_rate: str,
    sandbox_rate: str | None,
) -> tuple[str, Path, dict[str, str]]:
    """Seed and start the sandbox, write the roster, migrate, confirm every device OFF, start
    the workers; the sandbox URL, the roster's path and the workers' environment."""
    n = args.devices
    write_seed(tmp / "seed.yaml", n, sandbox_rate)
    more = ["--jitter-ms", f"{args.jitter_ms:g}"]
    if args.rate_mode:
        more += ["--rate-mode", args.rate_mode]
    sandbox_url = start_sandbox(procs, tmp, tmp / "seed.yaml", args.latency_ms, more)
    roster_path = tmp / "schedules.yaml"
    write_roster(roster_path, n, sandbox_url, roster_rate, args.ramp)
    upgrade(db_url)
    confirm_all_off(db_url, n)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SHIFTSWITCH_ROSTER": str(roster_path),
        f"EXOTEL_{ACCOUNT.upper()}_API_KEY": API_KEY,
        f"EXOTEL_{ACCOUNT.upper()}_API_TOKEN": API_TOKEN,
    }
    start_workers(procs, args, env, tmp)
    return sandbox_url, roster_path, env


def boundary(args: argparse.Namespace, roster_rate: str, sandbox_rate: str | None) -> Raw:
    """Set the world up, tick at the boundary, wait until every action is final."""
    n = args.devices
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    with ExitStack() as stack:
        if args.keep:
            print(f"keeping {tmp} (logs, seed, roster)", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db_url = stack.enter_context(database(args.database, tmp))
        redis_url = stack.enter_context(redis_db(f"{args.redis_url.rstrip('/')}/{args.redis_db}"))
        stack.callback(procs.stop)  # before Redis is flushed and the database dropped

        t_setup = time.perf_counter()
        sandbox_url, roster_path, env = world(
            procs, args, tmp, db_url, redis_url, roster_rate, sandbox_rate
        )
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        postgres = engine.dialect.name == "postgresql"
        store = ActionStore(engine)
        dispatcher = CeleryDispatcher(make_celery(Settings.from_env(env)))
        scheduler = Scheduler(RosterFile(str(roster_path)), store, dispatcher)
        ramp = parse_duration(args.ramp) if args.ramp else None
        start = BOUNDARY - ramp - timedelta(seconds=5) if ramp else START
        started = scheduler.start(start)
        if started.enqueued or started.reconciled:
            raise RuntimeError(
                f"start-up sent {started.enqueued + started.reconciled} actions; expected none "
                "(every device was confirmed OFF)"
            )
        control = requests.Session()
        control.delete(f"{sandbox_url}/_sandbox/log", timeout=10).raise_for_status()
        # Time the pieces of the tick (wrapping this process's objects, not the product code).
        parts = {
            "record": Timed(store.record),
            "claim": Timed(store.claim),
            "dispatch": Timed(dispatcher.dispatch),
        }
        store.record, store.claim = parts["record"], parts["claim"]  # type: ignore[method-assign]
        dispatcher.dispatch = parts["dispatch"]  # type: ignore[method-assign]
        print(
            f"setup {time.perf_counter() - t_setup:.1f} s; ticking at {BOUNDARY:%H:%M:%S}Z "
            f"with {n:,} devices due",
            file=sys.stderr,
        )

        load_before = os.getloadavg()[0]
        cpu0 = cpu_now(procs, redis_url, postgres)
        wall0, t0, tick_s = tick_boundary(scheduler, start if ramp else None, n)
        polled_s = wait_until_final(engine, n, t0, args, procs, redis_url)
        cpu1 = cpu_now(procs, redis_url, postgres)

        raw = Raw(
            database=engine.dialect.name,
            wall0=wall0,
            tick_s=tick_s,
            polled_s=polled_s,
            parts=parts,
            cpu_s={k: v - cpu0[k] for k, v in cpu1.items() if k in cpu0},
            load_before=load_before,
            messages=dispatcher.messages,
        )
        with store.sessions() as session:
            raw.actions = list(session.scalars(select(Action).order_by(Action.id)))
            raw.attempts = list(session.scalars(select(Attempt)))
        raw.log = control.get(f"{sandbox_url}/_sandbox/log", timeout=30).json()["requests"]
    return raw


def tick_boundary(
    scheduler: Scheduler, ramp_start: datetime | None, n: int
) -> tuple[float, float, float]:
    """Tick the boundary (with a ramp: in real time from ``ramp_start``); check that ``n``
    actions were sent. The boundary's real instant (time.time()), the perf_counter() when the
    ticking began, and the seconds spent in ticks."""
    if ramp_start is not None:
        # The scheduler's clock runs at real speed from ramp_start; wall0 is the real instant
        # that is the boundary on it, so lateness below 0 means ON before the shift start.
        offset = ramp_start.timestamp() - time.time()
        wall0 = BOUNDARY.timestamp() - offset
        t0 = time.perf_counter()
        due, enqueued, tick_s = ramp_ticks(scheduler, offset, n)
    else:
        wall0 = time.time()
        t0 = time.perf_counter()
        report = scheduler.tick(BOUNDARY)
        tick_s = time.perf_counter() - t0
        due, enqueued = report.due, report.enqueued
    if due != n or enqueued != n:
        raise RuntimeError(f"tick: due={due} enqueued={enqueued}, expected {n}")
    return wall0, t0, tick_s


def ramp_ticks(scheduler: Scheduler, offset: float, n: int) -> tuple[int, int, float]:
    """Tick every 0.1 s on a clock ``offset`` s from the real one, until ``n`` ONs are sent;
    (due, enqueued, seconds spent in ticks)."""
    due = enqueued = 0
    spent = 0.0
    while enqueued < n:
        t = time.perf_counter()
        report = scheduler.tick(datetime.fromtimestamp(time.time() + offset, UTC))
        spent += time.perf_counter() - t
        due, enqueued = due + report.due, enqueued + report.enqueued
        if datetime.fromtimestamp(time.time() + offset, UTC) > BOUNDARY + timedelta(seconds=5):
            break
        time.sleep(0.1)
    return due, enqueued, spent


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.devices
    roster_rate = args.rate or UNLIMITED
    sandbox_rate = args.sandbox_rate if args.sandbox_rate is not None else args.rate
    if sandbox_rate in ("none", ""):
        sandbox_rate = None
    for r in (roster_rate, sandbox_rate):
        if r is not None and parse_rate(r) is None:
            raise SystemExit(f"bad rate {r!r}: write N/s or N/min")
    raw = boundary(args, roster_rate, sandbox_rate)
    wall0, actions, log = raw.wall0, raw.actions, raw.log

    finished = [a.finished_at.timestamp() for a in actions if a.finished_at is not None]
    started_at = [a.started_at.timestamp() for a in actions if a.started_at is not None]
    lateness = [t - wall0 for t in finished]
    service = [
        (a.finished_at - a.started_at).total_seconds()
        for a in actions
        if a.finished_at is not None and a.started_at is not None
    ]
    http_ms = [t.duration_ms for t in raw.attempts]
    codes = collections.Counter(int(r["status"]) for r in log)
    completion = max(finished) - wall0 if finished else float("nan")
    limit = parse_rate(roster_rate) if args.rate else None
    floor = n * limit.per_seconds / limit.count if limit else None
    # The shared limiter spaces requests a little wider than the limit (RateLimit.spacing).
    spacing = limit.spacing if limit else None
    return {
        "devices": n,
        "database": raw.database,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "jitter_ms": args.jitter_ms,
        "rate_mode": args.rate_mode or "window",
        "worker_code": args.worker_code,
        "roster_rate": roster_rate,
        "sandbox_rate": sandbox_rate,
        "tick_s": raw.tick_s,
        "tick_record_s": raw.parts["record"].seconds,
        "tick_claim_s": raw.parts["claim"].seconds,
        "tick_dispatch_s": raw.parts["dispatch"].seconds,
        "tick_messages": raw.messages,
        "completion_s": completion,
        "polled_completion_s": raw.polled_s,
        "switches_per_s": n / completion if completion else None,
        "statuses": dict(collections.Counter(str(a.status) for a in actions)),
        "attempts": len(raw.attempts),
        "requests": len(log),
        "http_429": codes.get(429, 0),
        "http_other_non_200": sum(c for code, c in codes.items() if code not in (200, 429)),
        "http_codes": {str(k): v for k, v in sorted(codes.items())},
        "floor_s": floor,
        "above_floor_pct": (completion / floor - 1) * 100 if floor else None,
        "limiter_floor_s": n * spacing if spacing else None,
        **gaps(log, spacing),
        "lateness_p50_s": percentile(lateness, 0.50),
        "lateness_p95_s": percentile(lateness, 0.95),
        "lateness_max_s": max(lateness) if lateness else None,
        "first_start_s": min(started_at) - wall0 if started_at else None,
        "service_median_s": statistics.median(service) if service else None,
        "service_p95_s": percentile(service, 0.95),
        "http_median_ms": statistics.median(http_ms) if http_ms else None,
        "sandbox_first_request_s": min(r["started"] for r in log) - wall0 if log else None,
        "sandbox_last_response_s": max(r["finished"] for r in log) - wall0 if log else None,
        "sandbox_max_in_flight": max_in_flight(log) if log else 0,
        "cpu_s": {k: v for k, v in raw.cpu_s.items() if not k.startswith("machine")},
        "machine_busy_pct": 100 * raw.cpu_s["machine busy"] / raw.cpu_s["machine total"]
        if raw.cpu_s.get("machine total")
        else None,
        "load_average_before": raw.load_before,
        "ramp": args.ramp,
        "first_request_before_start_s": -min(r["started"] for r in log) + wall0 if log else None,
        # Rows the boundary wrote: an action, its attempts and the device's state (an upsert);
        # "row writes" also count each action's two updates (running, then its outcome).
        "rows_per_s": (2 * n + len(raw.attempts)) / completion if completion > 0 else None,
        "row_writes_per_s": (4 * n + len(raw.attempts)) / completion if completion > 0 else None,
    }


def summary(r: dict[str, Any]) -> str:
    def s(v: float | None, fmt: str = ".2f") -> str:
        return "n/a" if v is None else format(v, fmt)

    rate = r["roster_rate"] if r["floor_s"] is not None else f"none ({r['roster_rate']})"
    lines = [
        f"# Pipeline benchmark: {r['devices']:,} devices, one boundary; {r['database']}; "
        f"{r['workers']} worker process(es) x {r['concurrency']} threads; sandbox latency "
        f"{r['latency_ms']:g} ms + jitter {r['jitter_ms']:g} ms; rate {rate}, sandbox limit "
        f"{r['sandbox_rate'] or 'none'} ({r['rate_mode']}); "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs",
        f"tick (record + enqueue {r['devices']:,}): {s(r['tick_s'], '.3f')} s "
        f"(record {s(r['tick_record_s'], '.3f')}, claim {s(r['tick_claim_s'], '.3f')}, "
        f"dispatch {s(r['tick_dispatch_s'], '.3f')} for {r['tick_messages']:,} messages)",
        f"completion: {s(r['completion_s'])} s after the tick began "
        f"(polled: {s(r['polled_completion_s'])} s); {s(r['switches_per_s'], '.0f')} switches/s",
        f"statuses: {', '.join(f'{k} {v:,}' for k, v in sorted(r['statuses'].items()))}; "
        f"{r['attempts']:,} attempts; {r['requests']:,} requests at the sandbox",
        f"HTTP: 429 x {r['http_429']}, other non-200 x {r['http_other_non_200']} "
        f"({r['http_codes']})",
    ]
    if r["floor_s"] is not None:
        lines.append(
            f"floor (N / rate): {r['floor_s']:.2f} s; completion is "
            f"{r['above_floor_pct']:+.1f}% above it (the limiter's own spacing alone takes "
            f"{r['limiter_floor_s']:.2f} s)"
        )
    if r["ramp"]:
        late = r["lateness_max_s"]
        lines.append(
            f"ramp {r['ramp']}: first request {s(r['first_request_before_start_s'], '.1f')} s "
            f"before the shift start; the last agent ON {abs(late):.2f} s "
            f"{'before' if late <= 0 else 'AFTER'} it: every agent ON by the start: "
            f"{'yes' if late <= 0 else 'NO'}"
        )
    elif r["rows_per_s"]:
        lines.append(
            f"results tables: {r['rows_per_s']:,.0f} rows/s written (actions, attempts, device "
            f"states), {r['row_writes_per_s']:,.0f} row writes/s with the actions' updates"
        )
    lines += [
        f"lateness (finished - boundary): p50 {s(r['lateness_p50_s'])} s, "
        f"p95 {s(r['lateness_p95_s'])} s, max {s(r['lateness_max_s'])} s",
        f"first action started {s(r['first_start_s'], '.3f')} s after the tick; sandbox saw "
        f"requests from {s(r['sandbox_first_request_s'], '.3f')} s to "
        f"{s(r['sandbox_last_response_s'], '.3f')} s, at most {r['sandbox_max_in_flight']} "
        "in flight",
        f"per action (started -> finished): median {s(r['service_median_s'], '.3f')} s, "
        f"p95 {s(r['service_p95_s'], '.3f')} s; HTTP exchange median "
        f"{s(r['http_median_ms'], '.1f')} ms",
        "CPU during the boundary (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_s"].items())
        + f"; wall {r['polled_completion_s']:.1f} s x {os.cpu_count()} CPUs; machine busy "
        f"{s(r['machine_busy_pct'], '.0f')}% (all processes); load average before "
        f"{r['load_average_before']:.2f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time one boundary of N switches through scheduler, Redis, workers, sandbox."
    )
    parser.add_argument("--devices", type=int, default=2000, help="devices switched (2000)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, help="sandbox jitter on top of the latency (0)"
    )
    parser.add_argument(
        "--rate-mode",
        choices=("window", "strict"),
        help="how the sandbox counts the limit (default window: N per window)",
    )
    parser.add_argument(
        "--worker-code",
        metavar="DIR",
        help="run the workers from this checkout (e.g. an earlier version) instead of this one",
    )
    parser.add_argument(
        "--rate",
        help="the account's rate limit, e.g. 6000/min, in the roster and (unless "
        f"--sandbox-rate) at the sandbox (default: none: roster {UNLIMITED}, sandbox unlimited)",
    )
    parser.add_argument(
        "--sandbox-rate", help="the sandbox's limit if not --rate ('none': no limit)"
    )
    parser.add_argument(
        "--ramp",
        metavar="DURATION",
        help="the account's ramp, e.g. 5m: the scheduler then ticks in real time from "
        "the ramp's start, and lateness is measured against the shift start",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"threads per worker process ({DEFAULT_CONCURRENCY}, the CLI default)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument(
        "--database",
        help="sqlite (default: a fresh file in a temporary directory), or a PostgreSQL URL "
        "(or 'postgresql' for postgres@127.0.0.1:5432) on which a fresh database is created "
        "and dropped",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="Redis server")
    parser.add_argument(
        "--redis-db", type=int, default=14, help="Redis database, flushed before and after (14)"
    )
    parser.add_argument("--loglevel", default="info", help="workers' log level (info)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds allowed for the boundary (300)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs) afterwards"
    )
    args = parser.parse_args(argv)
    if args.devices < 1 or args.workers < 1 or args.concurrency < 1:
        parser.error("--devices, --workers and --concurrency must be at least 1")
    result = measured(lambda: run(args))
    if isinstance(result, int):
        return result
    if args.json:
        print(summary(result), file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(summary(result))
    ok = result["statuses"] == {"succeeded": args.devices}
    if not ok:
        print(f"NOT every action succeeded: {result['statuses']}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
