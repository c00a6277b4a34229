"""Reconcile's look at the history: the latest action of each differing device, on a big table.

Builds a fresh database (a SQLite file in a temporary directory, or with ``--database URL`` a
fresh PostgreSQL database on that server, dropped afterwards) with the migrations, and fills the
actions table with ``--rows`` actions (1,100,000) spread over ``--devices`` roster devices
(10,000): about four months of two switches a day. Then times, best of ``--repeat`` (5):

- ``scheduler.corrections.latest_actions`` for 100 devices (a usual reconcile: few devices
  differ), and for every device (a first start: nothing confirmed yet);
- the query reconcile used before (``max(id)`` grouped over the whole table), for comparison.

    python benchmarks/bench_reconcile.py
    python benchmarks/bench_reconcile.py --database postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scheduler.corrections import latest_actions
from shiftswitch.actions import ActionStore
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import Action

START = datetime(2026, 8, 1, tzinfo=UTC)


def fill(store: ActionStore, rows: int, devices: int) -> None:
    batch: list[dict[str, Any]] = []
    with store.sessions.begin() as session:
        for i in range(rows):
            d = i % devices
            due = START + timedelta(hours=12 * (i // devices))
            batch.append(
                {
                    "key": f"main/a{d}/desk/{due.isoformat()}/{i % 2}",
                    "source": "schedule",
                    "user_key": f"main/u-{d}",
                    "account": "main",
                    "sid": "acme_corp",
                    "base_url": "http://127.0.0.1:9",
                    "rate_limit": "100/s",
                    "agent": f"a{d}",
                    "device": "desk",
                    "user_id": f"u-{d}",
                    "device_id": str(100000 + d),
                    "siblings": [],
                    "wants_on": bool((i // devices) % 2),
                    "due_at": due,
                    "created_at": due,
                    "finished_at": due,
                    "status": "succeeded",
                    "attempts": 1,
                }
            )
            if len(batch) == 10_000:
                session.execute(insert(Action), batch)
                batch = []
        if batch:
            session.execute(insert(Action), batch)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_100_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.database:
            server = make_url(args.database)
            name = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(server, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = server.set(database=name).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            upgrade(url)
            engine = make_engine(url)
            store = ActionStore(engine)
            t0 = time.perf_counter()
            fill(store, args.rows, args.devices)
            fill_s = time.perf_counter() - t0
            if engine.dialect.name == "postgresql":
                with engine.connect() as conn:
                    conn.execute(text("ANALYZE actions"))
            every = {("main", f"a{d}", "desk") for d in range(args.devices)}
            few = set(sorted(every)[:100])
            assert len(latest_actions(store, every)) == args.devices

            def whole_table() -> object:
                with store.sessions() as session:
                    ids = select(func.max(Action.id)).group_by(
                        Action.account, Action.agent, Action.device
                    )
                    return list(session.scalars(select(Action).where(Action.id.in_(ids))))

            figures = {
                "100 devices": best(lambda: latest_actions(store, few), args.repeat),
                f"all {args.devices:,} devices": best(
                    lambda: latest_actions(store, every), args.repeat
                ),
                "whole-table max(id) (before)": best(whole_table, args.repeat),
            }
            engine.dispose()
        finally:
            if args.database:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin.dispose()
    print(
        f"# reconcile history lookup: {args.rows:,} actions over {args.devices:,} devices; "
        f"{make_url(url).get_backend_name()}; filled in {fill_s:.1f} s; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; best of {args.repeat}"
    )
    for what, seconds in figures.items():
        print(f"{what}: {seconds * 1000:,.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
