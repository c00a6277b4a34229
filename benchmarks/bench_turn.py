"""The CPU of a worker's turn in the database, one thread: read, mark running, record success.

For each of ``--users`` users with one queued ON (device given by id, no other devices), the
store calls a switch makes outside its HTTP request and Redis: ``next_turn`` (the action and
its checks), ``start_attempt`` (marked running) and ``succeed`` (the attempt, the action's
success and the device's confirmed state, in one transaction). Measured: CPU time of this
process per call (``time.process_time``): on SQLite it includes the database's own work, on
PostgreSQL only the client's. A fresh SQLite file, or a fresh PostgreSQL database (dropped).

    python benchmarks/bench_turn.py --database sqlite
    python benchmarks/bench_turn.py --database postgresql --json
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

from sqlalchemy import update

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import database

from shiftswitch.actions import ActionStore, NewAction, user_key_of
from shiftswitch.db import autocommit_engine, make_engine, upgrade
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.models import Action, Source, Status
from shiftswitch.outcomes import attempt_row
from shiftswitch.turns import TurnStore

DUE = datetime(2026, 11, 30, 9, tzinfo=UTC)
OK = Outcome(Kind.OK, 200, None, None, "request-1", None, 0.05)


def run(url: str, users: int) -> dict[str, float]:
    upgrade(url)
    engine = make_engine(url, pool_pre_ping=False)  # as the worker makes it
    store = TurnStore(engine, autocommit_engine(engine, pool_pre_ping=False))
    ActionStore(engine).record(
        [
            NewAction(
                key=f"k{i}",
                source=Source.SCHEDULE,
                user_key=user_key_of("main", f"u{i}", f"a{i}"),
                account="main",
                sid="acme_corp",
                base_url="http://127.0.0.1:9",
                rate_limit="6000/min",
                agent=f"a{i}",
                device="desk",
                user_id=f"u{i}",
                device_id=f"d{i}",
                contact_uri=None,
                wants_on=True,
                due_at=DUE,
            )
            for i in range(users)
        ],
        DUE,
    )
    with engine.begin() as conn:
        conn.execute(update(Action).values(status=Status.QUEUED))
    store.warm(DUE)
    last = (DUE + timedelta(days=1), True, 2**62)
    spent = {"next_turn": 0.0, "start_attempt": 0.0, "succeed": 0.0}
    for i in range(users):
        t0 = time.process_time()
        turn = store.next_turn(f"main/u{i}", last)
        t1 = time.process_time()
        assert turn is not None
        number = store.start_attempt(turn.action, DUE)
        t2 = time.process_time()
        assert number == 1
        attempt = attempt_row(turn.action, number, "PUT available=true", DUE, OK)
        store.succeed(turn.action, OK, attempt, DUE)
        t3 = time.process_time()
        spent["next_turn"] += t1 - t0
        spent["start_attempt"] += t2 - t1
        spent["succeed"] += t3 - t2
    store.autocommitting.dispose()
    engine.dispose()
    out = {f"{name}_ms": round(s / users * 1000, 3) for name, s in spent.items()}
    out["turn_ms"] = round(sum(spent.values()) / users * 1000, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a URL")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.database, Path(tmp)) as url:
        figures = run(url, args.users)
    if args.json:
        print(json.dumps({"database": args.database, "users": args.users, **figures}))
        return
    print(f"{args.users} turns on {args.database}, CPU per turn (this process):")
    for name, value in figures.items():
        print(f"  {name:18} {value:.3f} ms")


if __name__ == "__main__":
    main()
