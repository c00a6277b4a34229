"""The web console's server time: the Now page and one page of the timeline (a day, 100 agents)
at ``--agents`` agents (10,000), p50 and p99 (goals, p99: the Now page 100 ms, the timeline 300 ms).

Builds a fresh database (a SQLite file, or ``--database postgres`` / a PostgreSQL URL), stores
the benchmark roster (``gen_roster.generate``: 200 shifts, three zones, two accounts) as the
roster in the database, and records a day of results as the worker leaves them: a succeeded
action for each switch the plan made since the start of the roster's day until now, and each
device's confirmed state. Then, in this process, the console's application (``create_app``,
the one ``shiftswitch api`` serves) answers ``--requests`` (200) requests of each page through
an in-process client, logged in as a viewer; the first request of each page, which plans the
window, is timed apart (``cold``). Redis (``--redis``) serves the login throttle.

    python benchmarks/bench_console.py [--agents 10000] [--database sqlite|postgres|URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastapi.testclient import TestClient

from benchmarks.common import database
from benchmarks.gen_roster import generate
from shiftswitch.access import AccessStore, Role
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import Action, DeviceState
from shiftswitch.planning.planner import Planner
from shiftswitch.server import create_app
from shiftswitch.settings import Settings
from shiftswitch.sources.store import RosterStore

NOW = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # a Wednesday: day shifts on in every zone
PASSWORD = "bench-console-password"  # noqa: S105 - a user made for the benchmark


def seed(url: str, agents: int) -> tuple[int, int]:
    """Store the roster and a day of results; (switches recorded, devices confirmed)."""
    upgrade(url)
    engine = make_engine(url)
    text = generate(agents)
    written = RosterStore(engine).write(lambda _b: text, source="bench", by="bench", now=NOW)
    roster = written.roster
    day = NOW.astimezone(roster.zone).replace(hour=0, minute=0, second=0, microsecond=0)
    transitions = Planner(roster).transitions(day, NOW)
    rows = []
    state: dict[tuple[str, str], dict[str, object]] = {}
    for i, t in enumerate(transitions):
        done = t.at + timedelta(seconds=1)
        rows.append(
            {
                "key": t.key, "source": "schedule", "user_key": f"{t.account}/{t.user_id}",
                "account": t.account, "sid": "sid", "base_url": "http://127.0.0.1:1",
                "rate_limit": "50/min", "agent": t.agent, "device": t.device,
                "user_id": t.user_id or t.agent, "device_id": t.device_id or f"d{i}",
                "wants_on": t.available, "shift": t.shift, "override": t.override,
                "due_at": t.at, "created_at": t.at, "enqueued_at": t.at, "started_at": t.at,
                "finished_at": done, "status": "succeeded", "attempts": 1,
                "last_http_code": 200, "siblings": [],
            }
        )  # fmt: skip
        state[(t.agent, t.device)] = {
            "account": t.account, "user_id": t.user_id or t.agent,
            "device_id": t.device_id or f"d{i}", "agent": t.agent, "device": t.device,
            "available": t.available, "confirmed_at": done,
        }  # fmt: skip
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Action), rows[start : start + 5000])
        conn.execute(insert(DeviceState), list(state.values()))
    AccessStore(engine).add_user("bench", Role.VIEWER, PASSWORD, by="bench", now=NOW)
    engine.dispose()
    return len(rows), len(state)


def timed(client: TestClient, paths: list[str]) -> tuple[float, list[float]]:
    """(the first request's ms, every later request's ms), each answered 200."""
    out = []
    for path in paths:
        t0 = time.perf_counter()
        reply = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        if reply.status_code != 200:
            raise SystemExit(f"{path}: HTTP {reply.status_code}: {reply.text[:300]}")
    return out[0], out[1:]


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, round(len(values) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.database, Path(tmp)) as url:
        t0 = time.perf_counter()
        switches, devices = seed(url, args.agents)
        print(
            f"seeded {args.agents} agents, {switches} switches, {devices} device states "
            f"in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})"
        )
        settings = Settings(database_url=url, redis_url=args.redis, roster_source="db")
        app = create_app(settings, FixedClock(NOW))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            form = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text)
            assert form, "no login form"
            login = {"name": "bench", "password": PASSWORD, "login_token": form.group(1)}
            reply = client.post("/login", data=login)
            assert reply.status_code == 200, reply.text
            pages = max(1, args.agents // 100)
            day = NOW.date().isoformat()
            now_paths = ["/"] * (args.requests + 1)
            timeline_paths = [
                f"/timeline?day={day}&page={1 + i * 37 % pages}" for i in range(args.requests + 1)
            ]
            results = {
                "Now page": timed(client, now_paths),
                "timeline, a day, 100 agents": timed(client, timeline_paths),
            }
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for name, (cold, warm) in results.items():
        print(
            f"{name}: first {cold:.0f} ms (plans the window); then {len(warm)} requests: "
            f"p50 {statistics.median(warm):.1f} ms, p99 {p99(warm):.1f} ms, "
            f"max {max(warm):.1f} ms"
        )
    print("goals: the Now page p99 <= 100 ms; the timeline p99 <= 300 ms")


if __name__ == "__main__":
    main()
