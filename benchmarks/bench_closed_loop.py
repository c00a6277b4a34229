"""Closed-loop benchmark: the first start's reads, and how soon drift is corrected.

Real processes on the real clock: the sandbox (``python -m shiftswitch sandbox``, the account's
limit enforced), one ``shiftswitch worker`` and one ``shiftswitch scheduler`` (product
defaults), a fresh SQLite database (or ``--database``) and a Redis database flushed first.

``first-start``: ``--devices`` (10,000) users with one device each, none ever confirmed by
shiftswitch; the roster wants every device OFF, and ``--differ`` (100) of them are ON in
Exotel. Measured: requests sent (GETs, PUTs) and minutes from the scheduler's start until every
device is OFF, at ``--rate`` (50/min). Before the reads, every device was sent a PUT:
``--devices`` requests, ``--devices / rate`` minutes.

``drift``: ``--devices`` (100) devices confirmed as wanted by the first start; then one is turned
ON behind the system's back (the sandbox's control API, as an agent in Exotel's app), right
after the scheduler starts, which is the worst moment: the next check is a whole interval away.
Measured: seconds from the change to the device OFF again, at ``--drift-every`` (the default,
900 s, unless given).

    python benchmarks/bench_closed_loop.py first-start
    python benchmarks/bench_closed_loop.py first-start --devices 10000 --differ 20
    python benchmarks/bench_closed_loop.py drift
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import scratch
from one_account import ACCOUNT, API_KEY, API_TOKEN, SID, device_id, write_seed
from processes import Processes, start_sandbox, wait_for

from shiftswitch.db import upgrade


def write_roster(path: Path, n: int, base_url: str, rate: str) -> None:
    """Every device managed, none in a shift: all should be OFF."""
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
        "shifts: []",
    ]
    path.write_text("\n".join(lines) + "\n")


def switch(sandbox: str, i: int, on: bool) -> None:
    url = f"{sandbox}/_sandbox/devices/{SID}/u-{i}/{device_id(i)}"
    requests.put(url, json={"available": on}, timeout=10).raise_for_status()


def counts(sandbox: str) -> dict[str, Any]:
    reply = requests.get(f"{sandbox}/_sandbox/counts", timeout=30)
    reply.raise_for_status()
    return dict(reply.json())


def device_on(sandbox: str, i: int) -> bool:
    state = requests.get(f"{sandbox}/_sandbox/state", timeout=60).json()
    for user in state["accounts"][SID]["users"]:
        if user["id"] == f"u-{i}":
            return bool(user["devices"][0]["available"])
    raise KeyError(i)


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.devices
    procs = Processes()
    with scratch(args.database, args.redis, "bench_closed_loop_") as world:
        stack, tmp, db_url = world.stack, world.tmp, world.database_url
        stack.callback(procs.stop)
        write_seed(tmp / "seed.yaml", n, args.rate)
        sandbox = start_sandbox(procs, tmp, tmp / "seed.yaml", args.latency_ms)
        upgrade(db_url)
        differ = list(range(0, n, max(1, n // args.differ)))[: args.differ]
        if args.mode == "first-start":
            for i in differ:
                switch(sandbox, i, True)
        roster = tmp / "schedules.yaml"
        write_roster(roster, n, sandbox, args.rate)
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": args.redis,
            "SHIFTSWITCH_ROSTER": str(roster),
            f"EXOTEL_{ACCOUNT.upper()}_API_KEY": API_KEY,
            f"EXOTEL_{ACCOUNT.upper()}_API_TOKEN": API_TOKEN,
        }
        if args.drift_every is not None:
            env["SHIFTSWITCH_DRIFT_EVERY"] = str(args.drift_every)
        log = tmp / "worker.log"
        procs.start("worker", ["worker", "--hostname=w@bench"], env, log)
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 60, "worker", procs)
        started = time.time()
        procs.start("scheduler", ["scheduler"], env, tmp / "scheduler.log")
        if args.mode == "first-start":
            pages = -(-n // 50)

            def done() -> bool:
                c = counts(sandbox)
                return c["methods"].get("GET", 0) >= pages and c["statuses"].get("200", 0) >= (
                    pages + len(differ)
                )

            wait_for(done, args.timeout, "every device read and set", procs)
            finished = time.time()
            c = counts(sandbox)
            left_on = [i for i in differ if device_on(sandbox, i)]
            return {
                "mode": "first-start",
                "devices": n,
                "differ": len(differ),
                "rate": args.rate,
                "gets": c["methods"].get("GET", 0),
                "puts": c["methods"].get("PUT", 0),
                "statuses": c["statuses"],
                "minutes": round((finished - started) / 60, 2),
                "floor_minutes": round((pages + len(differ)) / rate_per_minute(args.rate), 2),
                "before_minutes": round(n / rate_per_minute(args.rate), 1),
                "left_on": len(left_on),
            }
        # drift: once the first start has read everything, change one device behind its back
        pages = -(-n // 50)
        wait_for(lambda: counts(sandbox)["methods"].get("GET", 0) >= pages, 600, "first", procs)
        time.sleep(2)
        target = n // 2
        switch(sandbox, target, True)
        changed = time.time()
        wait_for(lambda: not device_on(sandbox, target), args.timeout, "correction", procs)
        return {
            "mode": "drift",
            "devices": n,
            "drift_every": args.drift_every or 900,
            "seconds_to_correction": round(time.time() - changed, 1),
            "puts": counts(sandbox)["methods"].get("PUT", 0),
        }


def rate_per_minute(rate: str) -> float:
    count, _, unit = rate.partition("/")
    per = {"s": 1 / 60, "sec": 1 / 60, "min": 1.0, "m": 1.0}.get(unit, 1.0)
    return float(count) / per


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["first-start", "drift"])
    parser.add_argument("--devices", type=int)
    parser.add_argument("--differ", type=int, default=100)
    parser.add_argument("--rate", default="50/min")
    parser.add_argument("--drift-every", type=float)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--database")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.devices is None:
        args.devices = 10_000 if args.mode == "first-start" else 100
    if args.mode == "drift" and args.rate == "50/min":
        args.rate = "600/min"
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if result.get("left_on", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
