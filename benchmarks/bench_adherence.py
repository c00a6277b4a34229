"""The adherence report at the scale it is for: 10,000 agents over 30 days (about 600,000
switches), and what the devices' timeline costs the worker per switch.

Builds a fresh database (``--database postgres`` by default, or sqlite / a URL), stores the
benchmark roster (``gen_roster.generate``: 200 shifts in three zones, two accounts) as the
version in force since a day before the month, and writes the month's timeline as the worker
leaves it: for each switch the plan made, an interval from its confirmation (2-40 s after the
instant; 3% of ONs never confirmed, 2% of devices left ON 10 minutes past their OFF). Then:

- ``month by agent``: ``report adherence`` for the 30 days, by agent (cold: the roster read
  and indexed; warm: asked again, as the console and the API ask);
- ``one agent``: the same month for one agent;
- ``console``: the console's Reports page for a week (by day: its chart and worst agents),
  through the application ``shiftswitch api`` serves, in this process, logged in as a viewer
  (Redis ``--redis`` serves the login throttle): the first request, then ``--requests`` (20)
  more, p50 and p99;
- ``timeline CPU per switch``: the CPU time of a confirmed switch's write (the device's state
  upsert, in its transaction) with and without the timeline's two statements, over 2,000.

    python benchmarks/bench_adherence.py [--agents 10000] [--days 30] [--database postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastapi.testclient import TestClient
from sqlalchemy import insert

from benchmarks.common import database
from benchmarks.gen_roster import generate
from shiftswitch import heap, timeline
from shiftswitch.access import AccessStore, Role
from shiftswitch.actions import confirm_states
from shiftswitch.adherence.query import Query
from shiftswitch.adherence.report import adherence
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import DeviceState
from shiftswitch.planning.planner import Planner
from shiftswitch.roster.model import Roster
from shiftswitch.server import create_app
from shiftswitch.settings import Settings
from shiftswitch.sources.store import RosterStore

FIRST = date(2026, 11, 1)
PASSWORD = "bench-reports-password"  # noqa: S105 - a user made for the benchmark
COLUMNS = ("account", "user_id", "device_id", "agent", "device", "state", "started_at",
           "ended_at", "action_id")  # fmt: skip


def seed(url: str, agents: int, days: int) -> tuple[Roster, int, int]:
    """Store the roster and the month's timeline; (roster, switches, intervals)."""
    upgrade(url)
    engine = make_engine(url)
    text = generate(agents)
    zone_first = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC) - timedelta(days=2)
    roster = (
        RosterStore(engine)
        .write(lambda _b: text, source="bench", by="bench", now=zone_first)
        .roster
    )
    start = zone_first + timedelta(days=1)
    end = start + timedelta(days=days + 2)
    with heap.paused():
        transitions = Planner(roster).transitions(start, end)
    rnd = random.Random(1)
    rows: list[tuple[Any, ...]] = []
    open_at: dict[tuple[str, str], tuple[datetime, bool, str, str, str]] = {}
    for i, t in enumerate(transitions):
        key = (t.agent, t.device)
        at = t.at + timedelta(seconds=rnd.uniform(2, 40))
        if t.available and rnd.random() < 0.03:
            continue  # never confirmed ON
        if not t.available and rnd.random() < 0.02:
            at += timedelta(minutes=10)  # left ON past its OFF
        before = open_at.get(key)
        if before is not None and before[1] == t.available:
            continue
        if before is not None:
            b_at, b_on, acc, uid, did = before
            rows.append((acc, uid, did, t.agent, t.device, "on" if b_on else "off", b_at, at, i))
        uid, did = t.user_id or t.agent, t.device_id or f"{t.agent}/{t.device}"
        open_at[key] = (at, t.available, t.account, uid, did)
    for (agent, device), (at, on, acc, uid, did) in open_at.items():
        rows.append((acc, uid, did, agent, device, "on" if on else "off", at, None, None))
    _write(engine, rows)
    engine.dispose()
    return roster, len(transitions), len(rows)


def _write(engine: Any, rows: list[tuple[Any, ...]]) -> None:
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY device_intervals ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            chunk = [dict(zip(COLUMNS, r, strict=True)) for r in rows[i : i + 5000]]
            conn.execute(insert(timeline.TABLE), chunk)


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def cpu_per_switch(url: str, n: int = 2000) -> tuple[float, float]:
    """CPU ms of one confirmed switch's write without and with the timeline's statements."""
    engine = make_engine(url)
    now = datetime(2026, 12, 5, tzinfo=UTC)

    def state(i: int) -> DeviceState:
        return DeviceState(account="bench", user_id=f"u{i % 500}", device_id=f"d{i % 500}",
                           agent=f"a{i % 500}", device="desk", contact_uri=None,
                           available=bool(i // 500 % 2), confirmed_at=now + timedelta(seconds=i),
                           action_id=None)  # fmt: skip

    def run(with_timeline: bool, offset: int) -> float:
        t0 = time.process_time()
        for i in range(offset, offset + n):
            s = state(i)
            with engine.begin() as conn:
                confirm_states(engine, conn, [s])
                if with_timeline:
                    timeline.mark(engine, conn, [timeline.mark_of(s)])
        return (time.process_time() - t0) * 1000 / n

    run(True, 0)  # warm: statements compiled, rows there
    figures = []
    for round_ in range(3):
        base = run(False, n * (1 + 2 * round_))
        marked = run(True, n * (2 + 2 * round_))
        figures.append((base, marked))
    engine.dispose()
    base = statistics.median(f[0] for f in figures)
    marked = statistics.median(f[1] for f in figures)
    return base, marked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database", default="postgres")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
    args = parser.parse_args()
    out = io.StringIO()

    def say(line: str) -> None:
        print(line, flush=True)
        out.write(line + "\n")

    with tempfile.TemporaryDirectory() as tmp, database(args.database, Path(tmp)) as url:
        t0 = time.perf_counter()
        roster, switches, intervals = seed(url, args.agents, args.days)
        say(f"seeded {args.agents} agents: {switches} switches, {intervals} intervals in "
            f"{time.perf_counter() - t0:.0f} s ({url.split(':')[0]})")  # fmt: skip
        engine = make_engine(url)
        last = FIRST + timedelta(days=args.days - 1)
        now = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=2)
        month = Query(FIRST, last, by="agent")
        cold, found = timed(lambda: adherence(engine, month, roster, now))
        warm, found = timed(lambda: adherence(engine, month, roster, now))
        planned = sum(r["planned_s"] for r in found.rows)
        confirmed = sum(r["confirmed_s"] for r in found.rows)
        say(f"month by agent: {len(found.rows)} rows, adherence {confirmed / planned:.1%}; "
            f"first {cold:.2f} s (reads the roster, plans the month), then {warm:.2f} s "
            "(the plan kept, as the API and console keep it)")  # fmt: skip
        agent = sorted(roster.agents)[len(roster.agents) // 2]
        one = Query(FIRST, last, agent=agent, by="day")
        times = [timed(lambda: adherence(engine, one, roster, now))[0] for _ in range(5)]
        say(f"one agent, the month by day: median {statistics.median(times) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms")  # fmt: skip
        AccessStore(engine).add_user("bench", Role.VIEWER, PASSWORD, by="bench", now=now)
        engine.dispose()
        cold_ms, page_ms = console_week(url, args.redis, now, last, args.requests)
        say(f"console Reports page, a week: first {cold_ms:.0f} ms (plans the week), then "
            f"{len(page_ms)} requests: p50 {statistics.median(page_ms):.0f} ms, p99 "
            f"{p99(page_ms):.0f} ms")  # fmt: skip
        base, marked = cpu_per_switch(url)
        say(f"worker CPU per confirmed switch's write: {base:.3f} ms without the timeline, "
            f"{marked:.3f} ms with it: +{marked - base:.3f} ms")  # fmt: skip
    say(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")


def console_week(
    url: str, redis: str, now: datetime, last: date, requests: int
) -> tuple[float, list[float]]:
    """The console's Reports page for the week ending ``last``, through the application
    ``shiftswitch api`` serves, logged in as a viewer: (first ms, later ms)."""
    settings = Settings(database_url=url, redis_url=redis, roster_source="db")
    app = create_app(settings, FixedClock(now))
    path = f"/reports?from={last - timedelta(days=6)}&to={last}"
    with TestClient(app, base_url="http://127.0.0.1") as client:
        form = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text)
        assert form, "no login form"
        login = {"name": "bench", "password": PASSWORD, "login_token": form.group(1)}
        assert client.post("/login", data=login).status_code == 200
        out = []
        for _ in range(requests + 1):
            t0 = time.perf_counter()
            reply = client.get(path)
            out.append((time.perf_counter() - t0) * 1000)
            if reply.status_code != 200 or 'id="chart"' not in reply.text:
                raise SystemExit(f"{path}: HTTP {reply.status_code}: {reply.text[:300]}")
    return out[0], out[1:]


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, round(len(values) * 0.99) - 1)]


if __name__ == "__main__":
    main()
