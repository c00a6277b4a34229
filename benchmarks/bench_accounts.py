"""Two accounts at one boundary: is each one done at its own rate, and what does a switch cost?

The world of ``bench_pipeline.py``, with two Exotel accounts in the sandbox and the roster:

- ``slow`` (sid ``slow_corp``): ``--slow`` (100) devices at ``--slow-rate`` (60/min);
- ``fast`` (sid ``fast_corp``): ``--fast`` (1,000) devices at ``--fast-rate`` (6000/min);

the same limits enforced by the sandbox (``--latency-ms`` 50), one ``shiftswitch worker`` with its
defaults (32 threads), the scheduler in this process on a fixed clock ticking the 09:00 boundary
that switches every device ON, a fresh SQLite database (or ``--database``).

Measured: each account's completion (its last switch answered, from the tick) as a ratio to
its floor (devices / rate), its 429s, its first switch's departure after the instant, the task
messages the scheduler sent, and the workers' CPU per switch (user + system, from /proc) over
the whole boundary. Before the boundary, the machine's speed at the hour: ``bench_turn.py``'s
CPU per turn on SQLite (``machine_turn_ms``; 1,000 turns, about a second), for comparing runs
made at different hours, on a machine whose speed varies (``--no-calibrate``: not measured).

``--group``: a group of call centres instead, fifty accounts at one instant, each with about
ten seconds of work at its own limit: one at 6000/min (1,000 devices), one at 1200/min (200),
one at 600/min (100), eight at 120/min (20 each) and 39 at 50/min (8 each), every other slow
account's gateway strict (no request closer than 1/rate); ``--workers`` worker processes.

    python benchmarks/bench_accounts.py
    python benchmarks/bench_accounts.py --group --workers 4 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml
from sqlalchemy import func, insert, select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_turn import run as turns
from common import gaps, scratch
from one_account import API_KEY, API_TOKEN
from processes import Processes, start_sandbox, start_workers, wait_for

from scheduler.loop import Scheduler
from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import OPEN_STATUSES, Action, DeviceState
from shiftswitch.pacing import parse_rate
from shiftswitch.settings import Settings
from shiftswitch.sources.source import RosterFile

BOUNDARY = datetime(2026, 11, 30, 9, tzinfo=UTC)


def accounts(args: argparse.Namespace) -> list[tuple[str, str, int, str]]:
    """(roster name, sid, devices, rate) of each account; device ids are distinct."""
    if args.group:
        sizes = [(1000, "6000/min"), (200, "1200/min"), (100, "600/min")]
        sizes += [(20, "120/min")] * 8 + [(8, "50/min")] * 39
        return [(f"c{k:02d}", f"c{k:02d}_corp", n, rate) for k, (n, rate) in enumerate(sizes)]
    return [
        ("slow", "slow_corp", args.slow, args.slow_rate),
        ("fast", "fast_corp", args.fast, args.fast_rate),
    ]


def strict(args: argparse.Namespace, index: int, rate: str) -> bool:
    """Every other slow account of the group has a strict gateway."""
    return bool(args.group) and rate in ("120/min", "50/min") and index % 2 == 1


def write_world(tmp: Path, args: argparse.Namespace) -> None:
    seed: dict[str, Any] = {"accounts": {}}
    for k, (name, sid, n, rate) in enumerate(accounts(args)):
        seed["accounts"][sid] = {
            "api_key": f"{API_KEY}-{name}",
            "api_token": f"{API_TOKEN}-{name}",
            "rate_limit": rate,
            **({"rate_mode": "strict"} if strict(args, k, rate) else {}),
            "users": [
                {
                    "id": f"{name}-u{i}",
                    "first_name": f"{name}{i}",
                    "devices": [
                        {
                            "id": f"{name}-d{i}",
                            "name": "Desk",
                            "contact_uri": f"+91{k + 10:02d}{i:08d}",
                            "verified": True,
                            "available": False,
                        }
                    ],
                }
                for i in range(n)
            ],
        }
    (tmp / "seed.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))


def write_roster(path: Path, args: argparse.Namespace, sandbox: str) -> None:
    lines = ["version: 1", "timezone: UTC", "accounts:"]
    for name, sid, _, rate in accounts(args):
        lines.append(f"  {name}: {{sid: {sid}, base_url: '{sandbox}', rate_limit: '{rate}'}}")
    lines.append("agents:")
    members = []
    for name, _, n, _ in accounts(args):
        for i in range(n):
            lines.append(
                f"  {name}{i}: {{account: {name}, user_id: '{name}-u{i}', "
                f"devices: {{desk: '{name}-d{i}'}}}}"
            )
            members.append(f"{name}{i}")
    lines += ["shifts:", "  - name: am", "    start: '0 9 * * *'", "    duration: 8h"]
    lines.append("    members: [" + ", ".join(members) + "]")
    path.write_text("\n".join(lines) + "\n")


def confirm_all_off(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    rows = [
        {
            "account": name,
            "user_id": f"{name}-u{i}",
            "device_id": f"{name}-d{i}",
            "agent": f"{name}{i}",
            "device": "desk",
            "contact_uri": None,
            "available": False,
            "confirmed_at": BOUNDARY - timedelta(hours=1),
            "action_id": None,
        }
        for name, _, n, _ in accounts(args)
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(DeviceState), rows)
    engine.dispose()


def machine_turn_ms() -> float:
    """``bench_turn.py``'s CPU per turn on a fresh SQLite file (ms): the machine's speed now."""
    with tempfile.TemporaryDirectory() as tmp:
        return turns(f"sqlite:///{Path(tmp) / 'turns.db'}", 1000)["turn_ms"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    calibration = machine_turn_ms() if args.calibrate else None
    procs = Processes()
    total = sum(n for _, _, n, _ in accounts(args))
    with scratch(args.database, args.redis, "bench_accounts_") as world:
        stack, tmp, db_url = world.stack, world.tmp, world.database_url
        stack.callback(procs.stop)
        write_world(tmp, args)
        sandbox = start_sandbox(procs, tmp, tmp / "seed.yaml", args.latency_ms)
        roster = tmp / "schedules.yaml"
        write_roster(roster, args, sandbox)
        upgrade(db_url)
        confirm_all_off(db_url, args)
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": args.redis,
            "SHIFTSWITCH_ROSTER": str(roster),
            "SHIFTSWITCH_LOG_FORMAT": "text",
        }
        for name, _, _, _ in accounts(args):
            env[f"EXOTEL_{name.upper()}_API_KEY"] = f"{API_KEY}-{name}"
            env[f"EXOTEL_{name.upper()}_API_TOKEN"] = f"{API_TOKEN}-{name}"
        start_workers(procs, args, env, tmp)
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        store = ActionStore(engine)
        dispatcher = CeleryDispatcher(make_celery(Settings.from_env(env)))
        scheduler = Scheduler(RosterFile(str(roster)), store, dispatcher)
        scheduler.start(BOUNDARY - timedelta(seconds=1))
        requests.delete(f"{sandbox}/_sandbox/log", timeout=10).raise_for_status()
        cpu0 = workers_cpu(procs)
        t0 = time.time()
        report = scheduler.tick(BOUNDARY)
        assert report.enqueued == total, report
        open_q = select(func.count()).select_from(Action).where(Action.status.in_(OPEN_STATUSES))

        def final() -> bool:
            with engine.connect() as conn:
                return (conn.scalar(open_q) or 0) == 0

        wait_for(final, args.timeout, "every action final", procs)
        cpu = workers_cpu(procs) - cpu0
        entries = requests.get(f"{sandbox}/_sandbox/log", timeout=60).json()["requests"]
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(select(Action.status, func.count()).group_by(Action.status)).all()
            )
    out: dict[str, Any] = {
        "statuses": statuses,
        "workers": args.workers,
        "worker_cpu_s": round(cpu, 2),
        "cpu_ms_per_switch": round(cpu / total * 1000, 2),
        "machine_turn_ms": calibration,
        # The scheduler's; a worker sends a message again for each user it defers.
        "messages_sent": dispatcher.messages,
        "accounts": {},
    }
    for name, sid, n, rate in accounts(args):
        mine = [e for e in entries if e["account"] == sid and e["method"] == "PUT"]
        ok = [e for e in mine if e["status"] == 200]
        limit = parse_rate(rate)
        assert limit is not None
        floor = n * limit.per_seconds / limit.count
        done = max(e["finished"] for e in ok) - t0 if ok else float("nan")
        out["accounts"][name] = {
            "devices": n,
            "rate": rate,
            "floor_s": round(floor, 2),
            "completion_s": round(done, 2),
            "ratio": round(done / floor, 3),
            "puts": len(mine),
            "429s": sum(1 for e in mine if e["status"] == 429),
            "first_put_s": round(min(e["started"] for e in mine) - t0, 2) if mine else None,
            **gaps(mine, limit.spacing),
        }
    rows = out["accounts"].values()
    ratios = sorted(r["ratio"] for r in rows)
    firsts = sorted(r["first_put_s"] for r in rows if r["first_put_s"] is not None)
    out["summary"] = {
        "accounts": len(ratios),
        "over_1_05": sum(r > 1.05 for r in ratios),
        "ratio_median": ratios[len(ratios) // 2],
        "ratio_worst": ratios[-1],
        "first_put_median_s": firsts[len(firsts) // 2],
        "first_put_worst_s": firsts[-1],
        "429s": sum(r["429s"] for r in rows),
        "most_429s_one_account": max(r["429s"] for r in rows),
    }
    return out


def workers_cpu(procs: Processes) -> float:
    return sum(s for name, s in procs.cpu_seconds().items() if name.startswith("worker"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--slow-rate", default="60/min")
    parser.add_argument("--fast", type=int, default=1000)
    parser.add_argument("--fast-rate", default="6000/min")
    parser.add_argument("--group", action="store_true", help="fifty accounts (see above)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--loglevel", default="info")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--database")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-calibrate", dest="calibrate", action="store_false", help="skip machine_turn_ms"
    )
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    total = sum(n for _, _, n, _ in accounts(args))
    return 0 if result["statuses"] == {"succeeded": total} else 1


if __name__ == "__main__":
    sys.exit(main())
