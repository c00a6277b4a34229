"""Notifications: how soon an event reaches its receiver, how many messages 1,000 failures at
one boundary make, and what the outbox costs per switch.

- ``latency``: 20 channels, each given one ``switch_failed`` event at a random moment within
  20 s, written in a transaction of its own as a worker writes it; a deliverer thread (as the
  processes run it, ticking every second) sends them to a JSON webhook; latency is from the
  event's commit to the webhook's receipt.
- ``burst``: 1,000 ``switch_failed`` events within 2 s on one channel: the messages the webhook
  receives in the next 40 s, and how many events they carry.
- ``cpu``: CPU time of writing one failed switch's event (the outbox insert, in its own
  transaction) over 1,000, beside a transaction that writes nothing: the outbox's cost per
  failed switch; a switch that succeeds writes nothing to it.

    python benchmarks/bench_notify.py [--database sqlite|postgres|URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.common import database, show
from shiftswitch.clock import SystemClock
from shiftswitch.db import make_engine, upgrade
from shiftswitch.notify import outbox
from shiftswitch.notify.config import NotifyConfig, Rule
from shiftswitch.notify.deliverer import Deliverer, DelivererThread
from tests.receivers import webhook


def failure(session: Session, config: NotifyConfig, i: int, channel: str | None = None) -> None:
    detail = {"agent": f"a{i}", "device": "desk", "on": True, "status": "failed",
              "why": "HTTP 500 after 8 attempts", "sent": time.time()}  # fmt: skip
    outbox.record(session, config, "switch_failed", f"action/{i}", datetime.now(UTC), detail,
                  channels=None if channel is None else [channel])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    result: dict[str, Any] = {}
    with database(args.database, tmp) as url, webhook() as hook:
        upgrade(url)
        engine = make_engine(url)
        result["latency p50 / p99 / max"] = measure_latency(engine, hook)
        # burst: 1,000 failures within 2 s on one channel
        one = NotifyConfig({"ops": "OPS_URL"}, (Rule(frozenset({"switch_failed"}), ("ops",)),))
        with webhook() as burst_hook:
            thread = DelivererThread(
                Deliverer(engine, one, env={"OPS_URL": burst_hook.url()}), SystemClock()
            ).start()
            start = time.monotonic()
            for i in range(1000):
                with Session(engine) as session, session.begin():
                    failure(session, one, 10_000 + i)
                if i % 100 == 99:
                    time.sleep(max(0.0, start + (i + 1) / 500 - time.monotonic()))
            time.sleep(max(0.0, start + 40 - time.monotonic()))
            thread.stop()
            titles = [m["title"] for m in burst_hook.messages()]
            result["burst of 1,000 failures: messages in 40 s"] = f"{len(titles)}: {titles}"
        # cpu: the outbox insert per failed switch
        result["cpu per failed switch (outbox insert)"] = cpu_per_event(engine, one)
        engine.dispose()
    show(result, args.json, width=42)
    return 0


def measure_latency(engine: Any, hook: Any) -> str:
    """Latency of single events to a receiver, measured at receipt: 20 events, one per
    channel, each at a random moment; the receiver notes its clock on arrival."""
    arrivals: list[float] = []
    original = hook.server.RequestHandlerClass.do_POST

    def timed(handler: Any) -> None:
        arrivals.append(time.time())
        original(handler)

    hook.server.RequestHandlerClass.do_POST = timed
    channels = {f"l{i}": f"L{i}_URL" for i in range(20)}
    config = NotifyConfig(channels, (Rule(frozenset({"switch_failed"}), tuple(channels)),))
    env = {v: hook.url() for v in channels.values()}
    thread = DelivererThread(Deliverer(engine, config, env=env), SystemClock()).start()
    sent: list[float] = []
    t0 = time.monotonic()
    for i, at in enumerate(sorted(random.uniform(0, 20) for _ in channels)):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        with Session(engine) as session, session.begin():
            failure(session, config, 20_000 + i, f"l{i}")
        sent.append(time.time())
    deadline = time.monotonic() + 30
    while len(arrivals) < len(channels) and time.monotonic() < deadline:
        time.sleep(0.05)
    thread.stop()
    hook.server.RequestHandlerClass.do_POST = original
    # Messages arrive in the order the events were written (one per channel).
    waits = sorted(a - s for a, s in zip(sorted(arrivals), sent, strict=False))
    p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
    return f"{statistics.median(waits):.2f} s / {p99:.2f} s / {waits[-1]:.2f} s ({len(waits)})"


def cpu_per_event(engine: Any, config: NotifyConfig) -> str:
    def run(write: bool) -> float:
        t0 = time.process_time()
        for i in range(1000):
            with Session(engine) as session, session.begin():
                if write:
                    failure(session, config, 50_000 + i + (100_000 if write else 0))
                else:
                    session.execute(text("SELECT 1"))
        return (time.process_time() - t0) / 1000

    bare, with_event = run(False), run(True)
    return (
        f"{(with_event - bare) * 1000:.3f} ms ({with_event * 1000:.3f} ms vs {bare * 1000:.3f} ms)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
