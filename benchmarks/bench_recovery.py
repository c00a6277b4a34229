"""Recovery benchmark: a worker SIGKILLed during a boundary, with or without Redis losing its data.

Everything is a real process on the real clock, as in production:

- the sandbox (``python -m shiftswitch sandbox``, ``--latency-ms`` 50) with the account's limit
  (``--rate``, 1200/min) enforced, and the roster saying the same limit;
- a ``shiftswitch scheduler`` process (system clock, product defaults) on a roster whose one
  shift starts at the next whole minute at least 15 s away: ``--devices`` (220) agents with one
  device each, all confirmed OFF beforehand, so the boundary switches them all ON;
- one ``shiftswitch worker`` (32 threads, product defaults: lock TTL, visibility timeout...);
  ``--kill-after`` (3) seconds into the boundary it is SIGKILLed and a new one started at once
  (a supervisor's restart); with ``--flush``, ``--flush-after`` (2) seconds after the kill the
  Redis database is emptied (FLUSHDB: a Redis restart without persistence);
- a fresh SQLite database (or ``--database``).

Measured: seconds from the SIGKILL to the last switch of the boundary answered by the sandbox
(its request log), and to the last action final in the database; PUTs per device (a PUT cut off
by the kill may be sent again; more would be a repeat) and 429s.

    python benchmarks/bench_recovery.py                 # kill only
    python benchmarks/bench_recovery.py --flush         # kill, then Redis emptied
    python benchmarks/bench_recovery.py --flush --json

    python benchmarks/bench_recovery.py --idle-sweep    # a sweep's cost with nothing open

Exits 1 when a switch does not succeed within ``--timeout`` (1200) seconds of the kill.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, func, insert, select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import database, measured, scratch, show
from one_account import ACCOUNT, API_KEY, API_TOKEN, SID, confirm_all_off, device_id, write_seed
from processes import Processes, start_sandbox, wait_for

from scheduler.loop import LOST_AFTER
from shiftswitch.actions import ActionStore, for_ids, new_row
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.db import CHUNK, chunks, make_engine, upgrade
from shiftswitch.models import OPEN_STATUSES, Action, Source, Status
from shiftswitch.pacing import parse_rate
from shiftswitch.roster.model import Account
from shiftswitch.settings import Settings

LEAD = 15.0  # seconds at least between the scheduler's start and the boundary


def write_roster(path: Path, n: int, base_url: str, rate: str, boundary: datetime) -> None:
    lines = [
        "version: 1",
        "timezone: UTC",
        "accounts:",
        f"  {ACCOUNT}: {{sid: {SID}, base_url: '{base_url}', rate_limit: '{rate}'}}",
        "agents:",
        *(
            f"  a{i}: {{account: {ACCOUNT}, user_id: 'u-{i}', devices: {{desk: '{device_id(i)}'}}}}"
            for i in range(n)
        ),
        "shifts:",
        "  - name: now",
        f"    start: '{boundary.minute} {boundary.hour} * * *'",
        "    duration: 1h",
        "    members:",
        *(f"      - a{i}" for i in range(n)),
    ]
    path.write_text("\n".join(lines) + "\n")


def next_boundary(now: datetime) -> datetime:
    """The first whole minute at least :data:`LEAD` seconds after ``now``."""
    return (now + timedelta(seconds=LEAD)).replace(second=0, microsecond=0) + timedelta(minutes=1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.devices
    procs = Processes()
    with scratch(args.database, args.redis, "bench_recovery_") as world:
        stack, tmp, db_url, redis = world.stack, world.tmp, world.database_url, world.redis
        stack.callback(procs.stop)
        write_seed(tmp / "seed.yaml", n, args.rate)
        sandbox = start_sandbox(procs, tmp, tmp / "seed.yaml", args.latency_ms)
        upgrade(db_url)
        confirm_all_off(db_url, n)
        boundary = next_boundary(datetime.now(UTC))
        roster = tmp / "schedules.yaml"
        write_roster(roster, n, sandbox, args.rate, boundary)
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": args.redis,
            "SHIFTSWITCH_ROSTER": str(roster),
            f"EXOTEL_{ACCOUNT.upper()}_API_KEY": API_KEY,
            f"EXOTEL_{ACCOUNT.upper()}_API_TOKEN": API_TOKEN,
        }

        def worker(name: str) -> Path:
            log = tmp / f"{name}.log"
            procs.start(name, ["worker", f"--hostname={name}@bench"], env, log)
            wait_for(lambda: "ready." in log.read_text(errors="replace"), 60, name, procs)
            return log

        worker("first")
        procs.start("scheduler", ["scheduler", "--roster", str(roster)], env, tmp / "sched.log")
        print(f"boundary at {boundary:%H:%M:%S}Z", file=sys.stderr)
        while (left := (boundary - datetime.now(UTC)).total_seconds() + args.kill_after) > 0:
            procs.check()
            time.sleep(min(left, 0.05))
        name, first = procs.procs[0 if procs.procs[0][0] == "first" else 1]
        assert name == "first"
        os.killpg(first.pid, signal.SIGKILL)
        killed = time.time()
        first.wait()
        procs.procs.remove((name, first))
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        with engine.connect() as conn:
            done_at_kill = conn.scalar(
                select(func.count()).select_from(Action).where(Action.status == "succeeded")
            )
        worker("second")  # as a supervisor restarts it
        flushed = None
        if args.flush:
            while (left := killed + args.flush_after - time.time()) > 0:
                time.sleep(min(left, 0.05))
            redis.flushdb()
            flushed = time.time()
        final_at = wait_final(engine, n, killed, args.timeout, procs)
        times = {"boundary": boundary.timestamp(), "killed": killed, "final": final_at}
        result = figures(args, engine, sandbox, times, flushed)
        result["succeeded_at_kill"] = done_at_kill
        return result


def wait_final(engine: Engine, n: int, killed: float, timeout: float, procs: Processes) -> float:
    """Poll until the boundary's ``n`` actions are recorded and final; when (``time.time``)."""
    open_q = select(func.count()).select_from(Action).where(Action.status.in_(OPEN_STATUSES))
    every_q = select(func.count()).select_from(Action)
    while True:
        with engine.connect() as conn:
            still_open, total = conn.scalar(open_q) or 0, conn.scalar(every_q) or 0
        if total >= n and still_open == 0:
            return time.time()
        procs.check()
        if time.time() - killed > timeout:
            raise RuntimeError(f"{still_open} of {n} still open {timeout:g} s after the kill")
        time.sleep(0.2)


def figures(
    args: argparse.Namespace,
    engine: Engine,
    sandbox: str,
    times: dict[str, float],
    flushed: float | None,
) -> dict[str, Any]:
    """The run's figures, from the database and the sandbox's request log."""
    killed = times["killed"]
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(Action.status, func.count()).group_by(Action.status)).all()
        )
    log = requests.get(f"{sandbox}/_sandbox/log", timeout=10).json()["requests"]
    puts = [r for r in log if r["method"] == "PUT"]
    last = max(r["finished"] for r in puts if r["status"] == 200)
    per_device = collections.Counter(r["device_id"] for r in puts)
    return {
        "devices": args.devices,
        "rate": args.rate,
        "flush": args.flush,
        "kill_after_s": args.kill_after,
        "flush_after_kill_s": round(flushed - killed, 2) if flushed else None,
        "kill_to_last_switch_s": round(last - killed, 1),
        "kill_to_all_final_s": round(times["final"] - killed, 1),
        "boundary_to_last_switch_s": round(last - times["boundary"], 1),
        "statuses": statuses,
        "puts": len(puts),
        "devices_put_twice": sum(1 for c in per_device.values() if c == 2),
        "most_puts_per_device": max(per_device.values(), default=0),
        "http_429": sum(1 for r in log if r["status"] == 429),
    }


def idle_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's cost when nothing is open: ``--history`` final actions, none open, the
    broker a real :class:`CeleryDispatcher` (it is not asked: nothing is old enough)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench_recovery_") as tmp,
        database(args.database, Path(tmp)) as url,
    ):
        upgrade(url)
        engine = make_engine(url)
        store = ActionStore(engine)
        limit = parse_rate("1200/min")
        assert limit is not None
        account = Account(ACCOUNT, SID, "http://127.0.0.1:1", None, limit)
        now = datetime(2026, 11, 30, 9, tzinfo=UTC)
        rows = []
        for i in range(args.history):
            new = for_ids(
                account,
                f"u-{i}",
                device_id(i),
                True,
                key=f"k{i}",
                source=Source.SCHEDULE,
                due_at=now,
            )
            rows.append({**new_row(new, now), "status": Status.SUCCEEDED, "finished_at": now})
        with engine.begin() as conn:
            for chunk in chunks(rows, CHUNK):
                conn.execute(insert(Action), chunk)
        dispatcher = CeleryDispatcher(make_celery(Settings(redis_url=args.redis)))
        times = []
        for k in range(args.sweeps):
            at = now + timedelta(seconds=5 * k)
            t0 = time.perf_counter()
            if store.anything_open():  # as Scheduler.sweep does
                store.enqueue(None, dispatcher, at)
                store.requeue_stale(dispatcher, at, timedelta(minutes=16), lost_after=LOST_AFTER)
            times.append((time.perf_counter() - t0) * 1e6)
        engine.dispose()
    times.sort()
    return {
        "database": "postgresql" if args.database else "sqlite",
        "history": args.history,
        "sweeps": args.sweeps,
        "median_us": round(times[len(times) // 2]),
        "p99_us": round(times[int(len(times) * 0.99)]),
        "max_us": round(times[-1]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=220, help="switches at the boundary (220)")
    parser.add_argument("--rate", default="1200/min", help="the account's limit (1200/min)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
    parser.add_argument("--kill-after", type=float, default=3.0, help="s into the boundary (3)")
    parser.add_argument("--flush", action="store_true", help="empty the Redis database too")
    parser.add_argument("--flush-after", type=float, default=2.0, help="s after the kill (2)")
    parser.add_argument("--database", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/14", help="Redis database, flushed (db 14)"
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="s after the kill (1200)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--idle-sweep", action="store_true", help="only time the sweep with nothing open"
    )
    parser.add_argument("--history", type=int, default=10_000, help="final actions (10,000)")
    parser.add_argument("--sweeps", type=int, default=1000, help="sweeps timed (1,000)")
    args = parser.parse_args(argv)
    if args.idle_sweep:
        print(json.dumps(idle_sweep(args), indent=2))
        return 0
    result = measured(lambda: run(args))
    if isinstance(result, int):
        return result
    show(result, args.json)
    return 0 if result["statuses"] == {"succeeded": args.devices} else 1


if __name__ == "__main__":
    raise SystemExit(main())
