"""The HTTP API's latency at 10,000 agents: ``GET /api/v1/status`` and ``POST .../on``.

Builds a fresh database (PostgreSQL by default; ``--database sqlite`` for a SQLite file) with
the migrations, a 10,000-agent roster file (benchmarks/gen_roster.py), half the devices
confirmed ON in ``device_states`` and ``--history`` past actions (some failed within the last
day), and an operator token; starts a real ``shiftswitch api`` process (one uvicorn process) on
a free port, with a Redis database of its own as the broker and no worker (so what it enqueues
stays in Redis). Then, from this process over keep-alive HTTP:

- ``GET /api/v1/status``: ``--requests`` (300) one after the other; median and p99; the same
  for ``GET /api/v1/status?summary=1`` (the devices ON counted, not listed), and both sizes;
- ``POST /api/v1/agents/{agent}/devices/{device}/on``: one per agent, ``--requests`` of them,
  each answered once the action is recorded and its task is in the broker; median and p99;
- sustained ``GET /api/v1/status``, ``--clients`` (4) threads for ``--seconds`` (10): requests/s.

    python benchmarks/bench_api.py [--agents 10000] [--database sqlite|postgres|URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from sqlalchemy import insert, text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import database
from gen_roster import generate

from shiftswitch.access import AccessStore, Role
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import Action, DeviceState
from shiftswitch.roster.loader import parse_roster

REDIS = "redis://127.0.0.1:6379/11"


def fill(url: str, roster_text: str, history: int, now: datetime) -> list[tuple[str, str]]:
    """Confirmed states (every other device ON) and past actions; the (agent, device) pairs."""
    roster = parse_roster(roster_text)
    engine = make_engine(url)
    pairs = [(name, next(iter(a.devices))) for name, a in roster.agents.items()]
    rnd = random.Random(1)
    with engine.begin() as conn:
        states = []
        for i, (name, device) in enumerate(pairs):
            a = roster.agents[name]
            states.append(
                {
                    "account": a.account,
                    "user_id": a.user_id or f"u-{i}",
                    "device_id": str(100000 + i),
                    "agent": name,
                    "device": device,
                    "available": i % 2 == 0,
                    "confirmed_at": now - timedelta(minutes=rnd.randrange(1, 600)),
                }
            )
        conn.execute(insert(DeviceState), states)
        batch = []
        for i in range(history):
            name, device = pairs[i % len(pairs)]
            a = roster.agents[name]
            due = now - timedelta(minutes=history - i)
            failed = i % 500 == 0
            batch.append(
                {
                    "key": f"bench/{i}",
                    "source": "schedule",
                    "user_key": f"{a.account}/{a.user_id}",
                    "account": a.account,
                    "sid": "acme",
                    "base_url": "http://127.0.0.1:9",
                    "rate_limit": "100/s",
                    "agent": name,
                    "device": device,
                    "user_id": a.user_id or f"u-{i}",
                    "device_id": str(100000 + i % len(pairs)),
                    "wants_on": i % 2 == 0,
                    "due_at": due,
                    "created_at": due,
                    "enqueued_at": due,
                    "finished_at": due + timedelta(seconds=1),
                    "status": "failed" if failed else "succeeded",
                    "attempts": 1,
                    "last_http_code": 500 if failed else 200,
                    "reason": "HTTP 500 after 8 attempts" if failed else None,
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(Action), batch)
                batch = []
        if batch:
            conn.execute(insert(Action), batch)
    if engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of such a load (its threshold is 20% of a
        # table changed): statistics and the visibility map, which the index-only count of
        # the devices ON (the status summary) relies on.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return pairs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def api_env(url: str, roster: Path) -> dict[str, str]:
    """The server's environment: this one's, with the benchmark's database, Redis and roster."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS,
        "SHIFTSWITCH_ROSTER": str(roster),
    }


@contextmanager
def api_server(
    env: dict[str, str], log: Path, token: str, cwd: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``shiftswitch api`` process on a free port, once it answers ``token``: its API's base
    URL and the process; stopped at the end."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "shiftswitch", "api", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        wait_for_api(http, base, proc)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wait_for_api(http: requests.Session, base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if http.get(f"{base}/me", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("shiftswitch api did not start")
        time.sleep(0.1)


def timed(call: Any, times: int) -> list[float]:
    out = []
    for i in range(times):
        t0 = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - t0)
    return out


def sustained(base: str, token: str, clients: int, seconds: float) -> float:
    """Requests/s of GET status with ``clients`` threads for ``seconds``."""
    done = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        nonlocal done
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token}"
        while time.monotonic() < stop:
            assert s.get(f"{base}/status", timeout=30).status_code == 200
            with lock:
                done += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done / (time.monotonic() - t0)


def measure(
    base: str, token: str, pairs: list[tuple[str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    first = http.get(f"{base}/status", timeout=120)  # reads and validates the roster
    first_s = time.perf_counter() - started
    assert first.status_code == 200, first.text
    timed(lambda _i: http.get(f"{base}/status", timeout=30), 10)  # warm

    def status(_i: int) -> None:
        assert http.get(f"{base}/status", timeout=30).status_code == 200

    def switch_on(i: int) -> None:
        agent, device = pairs[i]
        reply = http.post(f"{base}/agents/{agent}/devices/{device}/on", timeout=30)
        assert reply.status_code == 202, reply.text

    def summary(_i: int) -> None:
        assert http.get(f"{base}/status?summary=1", timeout=30).status_code == 200

    status_times = timed(status, args.requests)
    summary_bytes = len(http.get(f"{base}/status?summary=1", timeout=30).content)
    summary_times = timed(summary, args.requests)
    on_times = timed(switch_on, min(args.requests, len(pairs)))
    return {
        "status_bytes": len(first.content),
        "summary_bytes": summary_bytes,
        "first_status_s": round(first_s, 2),
        "get_status": percentiles(status_times),
        "get_status_summary": percentiles(summary_times),
        "post_on": percentiles(on_times),
        "tasks_in_broker": Redis.from_url(REDIS).llen("shiftswitch"),
        "status_per_s": round(sustained(base, token, args.clients, args.seconds), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", default="postgres")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp_name, database(args.database, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        upgrade(url)
        text = generate(args.agents, seed=1)
        (tmp / "roster.yaml").write_text(text)
        pairs = fill(url, text, args.history, now)
        engine = make_engine(url)
        token = AccessStore(engine).create_token(
            "bench", Role.OPERATOR, expires_at=None, by="bench", now=now
        )
        engine.dispose()
        Redis.from_url(REDIS).flushdb()
        env = api_env(url, tmp / "roster.yaml")
        try:
            with api_server(env, tmp / "api.log", token) as (base, _proc):
                measured = measure(base, token, pairs, args)
        finally:
            Redis.from_url(REDIS).flushdb()
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "database": args.database,
        "agents": args.agents,
        "history_rows": args.history,
        "clients": args.clients,
        **measured,
    }
    print(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
