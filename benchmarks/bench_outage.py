"""Outage benchmark: Exotel failing every request for minutes across a boundary.

Everything is a real process on the real clock, as in production:

- the sandbox (``python -m shiftswitch sandbox``, ``--latency-ms`` 50) with the account's limit
  (``--rate``, 1200/min) enforced;
- a ``shiftswitch scheduler`` process (product defaults) on a roster whose one shift starts at
  the next whole minute at least 15 s away: ``--devices`` (200) agents with one device each,
  all confirmed OFF beforehand, so the boundary switches them all ON;
- one ``shiftswitch worker`` (product defaults);
- from ``--down-before`` (5) seconds before the boundary, for ``--down-for`` (300) seconds,
  Exotel fails: ``--mode 500`` answers every request with HTTP 500 (a sandbox fault rule);
  ``--mode refused`` stops the sandbox, so connections are refused, and starts it again on the
  same port after.

Measured: seconds from Exotel's return to the last device ON (and to every action final), the
actions' statuses (none may be failed), the HTTP attempts made while Exotel was down (before the
outage was noticed, and after), the outages recorded, and the log lines the worker and the
scheduler wrote while it lasted.

    python benchmarks/bench_outage.py --mode 500
    python benchmarks/bench_outage.py --mode refused --json

Exits 1 when a device is not ON within ``--timeout`` (120) seconds of Exotel's return.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import Engine, func, select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_recovery import next_boundary, write_roster
from common import measured, scratch, show
from one_account import ACCOUNT, API_KEY, API_TOKEN, confirm_all_off, write_seed
from processes import Processes, start_sandbox, wait_for

from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import Action, Attempt, ExotelOutage, Status


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.devices
    procs = Processes()
    with scratch(args.database, args.redis, "bench_outage_") as world:
        stack, tmp, db_url = world.stack, world.tmp, world.database_url
        stack.callback(procs.stop)
        seed = tmp / "seed.yaml"
        write_seed(seed, n, args.rate)
        sandbox = start_sandbox(procs, tmp, seed, args.latency_ms)
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
            "SHIFTSWITCH_ALLOWED_BASE_URLS": sandbox,
            f"EXOTEL_{ACCOUNT.upper()}_API_KEY": API_KEY,
            f"EXOTEL_{ACCOUNT.upper()}_API_TOKEN": API_TOKEN,
        }
        logs = {"worker": tmp / "worker.log", "scheduler": tmp / "sched.log"}
        procs.start("worker", ["worker", "--hostname=w@bench"], env, logs["worker"])
        wait_for(lambda: "ready." in logs["worker"].read_text(errors="replace"), 60, "w", procs)
        procs.start("scheduler", ["scheduler", "--roster", str(roster)], env, logs["scheduler"])
        print(f"boundary at {boundary:%H:%M:%S}Z, mode {args.mode}", file=sys.stderr)
        down_at = boundary.timestamp() - args.down_before
        while (left := down_at - time.time()) > 0:
            procs.check()
            time.sleep(min(left, 0.05))
        sizes = {name: path.stat().st_size for name, path in logs.items()}
        went_down = time.time()
        _go_down(args.mode, sandbox, procs)
        back_at = went_down + args.down_for
        while (left := back_at - time.time()) > 0:
            procs.check()
            time.sleep(min(left, 0.2))
        said = {name: path.read_bytes()[sizes[name] :].decode(errors="replace")
                for name, path in logs.items()}  # fmt: skip
        sandbox = _come_back(args.mode, sandbox, seed, procs, tmp, args.latency_ms)
        back = time.time()
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        all_on = wait_on(engine, n, back, args.timeout, procs)
        final = wait_final(engine, n, back, args.timeout, procs)
        return figures(args, engine, boundary.timestamp(), went_down, back, all_on, final, said)


def _go_down(mode: str, sandbox: str, procs: Processes) -> None:
    if mode == "500":
        rules = {"rules": [{"status": 500, "times": None}]}
        requests.put(f"{sandbox}/_sandbox/faults", json=rules, timeout=5).raise_for_status()
        return
    name, proc = next((name, p) for name, p in procs.procs if name == "sandbox")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    procs.procs.remove((name, proc))


def _come_back(
    mode: str, sandbox: str, seed: Path, procs: Processes, tmp: Path, latency_ms: float
) -> str:
    if mode == "500":
        requests.put(f"{sandbox}/_sandbox/faults", json={"rules": []}, timeout=5).raise_for_status()
        return sandbox
    port = str(urlsplit(sandbox).port)
    again = start_sandbox(procs, tmp, seed, latency_ms, more=["--port", port])
    assert again == sandbox, (again, sandbox)
    return again


def wait_on(engine: Engine, n: int, back: float, timeout: float, procs: Processes) -> float:
    """Poll until the boundary's ``n`` ONs succeeded; when (``time.time``)."""
    done_q = (
        select(func.count())
        .select_from(Action)
        .where(Action.status == Status.SUCCEEDED, Action.wants_on.is_(True))
    )
    while True:
        with engine.connect() as conn:
            if (conn.scalar(done_q) or 0) >= n:
                return time.time()
        procs.check()
        if time.time() - back > timeout:
            raise RuntimeError(f"not every device ON {timeout:g} s after Exotel's return")
        time.sleep(0.1)


def wait_final(engine: Engine, n: int, back: float, timeout: float, procs: Processes) -> float:
    open_q = (
        select(func.count())
        .select_from(Action)
        .where(Action.status.in_([Status.PENDING, Status.QUEUED, Status.RUNNING]))
    )
    while True:
        with engine.connect() as conn:
            if (conn.scalar(open_q) or 0) == 0:
                return time.time()
        procs.check()
        if time.time() - back > timeout:
            raise RuntimeError(f"actions still open {timeout:g} s after Exotel's return")
        time.sleep(0.1)


def figures(
    args: argparse.Namespace,
    engine: Engine,
    boundary: float,
    went_down: float,
    back: float,
    all_on: float,
    final: float,
    said: dict[str, str],
) -> dict[str, Any]:
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(Action.status, func.count()).group_by(Action.status)).all()
        )
        outages = conn.execute(
            select(ExotelOutage.started_at, ExotelOutage.ended_at, ExotelOutage.probes)
        ).all()
        attempts = [at.timestamp() for at in conn.scalars(select(Attempt.at))]
    noticed = min((o.started_at.timestamp() for o in outages), default=None)
    down = [a for a in attempts if went_down <= a < back]
    return {
        "mode": args.mode,
        "devices": args.devices,
        "rate": args.rate,
        "down_for_s": args.down_for,
        "down_before_boundary_s": args.down_before,
        "outages": len(outages),
        "noticed_after_s": round(noticed - went_down, 1) if noticed else None,
        "probes": sum(o.probes for o in outages),
        "attempts_while_down": len(down),
        "attempts_after_noticed": sum(a >= noticed for a in down) if noticed else None,
        "return_to_all_on_s": round(all_on - back, 1),
        "return_to_all_final_s": round(final - back, 1),
        "statuses": statuses,
        "log_lines_while_down": {name: text.count("\n") for name, text in said.items()},
        "exotel_down_lines": said["worker"].count("exotel_down"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=["500", "refused"], default="500")
    parser.add_argument("--devices", type=int, default=200, help="switches at the boundary (200)")
    parser.add_argument("--rate", default="1200/min", help="the account's limit (1200/min)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
    parser.add_argument("--down-before", type=float, default=5.0, help="s before the boundary")
    parser.add_argument("--down-for", type=float, default=300.0, help="s Exotel fails (300)")
    parser.add_argument("--database", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/13", help="Redis database, flushed (db 13)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="s after the return (120)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measured(lambda: run(args))
    if isinstance(result, int):
        return result
    show(result, args.json, width=28)
    return 0 if result["statuses"] == {"succeeded": args.devices} else 1


if __name__ == "__main__":
    sys.exit(main())
