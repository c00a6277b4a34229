"""Recovery within seconds: a worker killed during a boundary, Redis losing its data.

Real processes on the real clock: the sandbox, ``shiftswitch worker`` processes and a
``shiftswitch scheduler`` process, whose start is the burst (every device of a shift in progress
switched ON, 150 of them). Workers keep the product's visibility timeout (900 s) and lock TTL:
what brings the switches back is the workers' heartbeats and the scheduler's sweep, not a short
timeout.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from shiftswitch.models import Status
from tests.pipeline import Pipeline, kill, pipeline, roster_yaml, user, wait_until

N = 150
RECOVERY = 45.0  # seconds: every switch applied this long after the new worker's start at most
ENV = {
    "SHIFTSWITCH_VISIBILITY_TIMEOUT": "900",  # the product's: kombu alone would wait 15 min
    "SHIFTSWITCH_LOCK_TTL": "20",  # the product's default
}


def shift_in_progress() -> dict[str, object]:
    """A shift that started an hour or two ago and ends in over an hour: ON now."""
    start = (datetime.now(UTC).hour - 1) % 24
    return {"name": "now", "start": f"0 {start} * * *", "duration": "3h"}


@contextmanager
def burst(tmp: Path, database_url: str, n: int, env: dict[str, str]) -> Iterator[Pipeline]:
    users = [user(f"u-{i}", (f"{6000 + i}", "Desk", f"+9199200{i:05d}")) for i in range(n)]
    agents = {f"a{i}": (f"u-{i}", {"desk": f"{6000 + i}"}) for i in range(n)}
    shifts = [{**shift_in_progress(), "members": list(agents)}]
    with pipeline(
        tmp,
        database_url,
        users,
        lambda u: roster_yaml(u, agents, shifts, rate_limit="60/s"),
        env={**ENV, **env},
    ) as p:
        yield p


@contextmanager
def scheduler(p: Pipeline) -> Iterator[Path]:
    """``shiftswitch scheduler`` on the real clock; its log's path."""
    log = p.tmp / "scheduler.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftswitch", "scheduler", "--tick", "0.5"],
        env=p.env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield log
    finally:
        kill(proc, signal.SIGKILL)


def succeeded(p: Pipeline) -> int:
    return sum(a.status == Status.SUCCEEDED for a in p.actions())


def every_switch_within_recovery(p: Pipeline, began: float) -> None:
    """Wait for every switch of the burst, :data:`RECOVERY` s after ``began`` at most."""
    wait_until(
        lambda: succeeded(p) == N,
        RECOVERY - (time.monotonic() - began),
        f"every switch within {RECOVERY:g} s of the new worker's start",
        detail=lambda: collections.Counter(a.status for a in p.actions()),
    )


def assert_every_device_on_once(p: Pipeline, killed: float) -> None:
    actions = p.actions()
    assert len(actions) == N and {a.status for a in actions} == {Status.SUCCEEDED}
    puts = p.puts()
    assert {r["device_id"] for r in puts if r["body"] == {"available": True}} == {
        f"{6000 + i}" for i in range(N)
    }
    # Nothing sent twice while the first worker lived; after its death, a PUT it had in
    # flight may go again (at most one per thread it had), never more.
    before = collections.Counter(r["device_id"] for r in puts if r["started"] < killed)
    assert max(before.values(), default=0) <= 1
    sent = collections.Counter(r["device_id"] for r in puts)
    assert max(sent.values()) <= 2
    assert sum(c - 1 for c in sent.values()) <= 8
    assert max(a.attempts for a in actions) <= 2


def test_a_worker_killed_mid_burst_and_redis_emptied_every_switch_within_seconds(
    tmp_path: Path, postgres_url: str
) -> None:
    with burst(tmp_path, postgres_url, N, {}) as p, scheduler(p):
        p.start_worker(concurrency=8)
        wait_until(lambda: succeeded(p) >= 10, 30, "the burst under way")
        p.kill_worker(0)  # SIGKILL: its messages stay in kombu's unacknowledged ones
        killed = time.time()
        assert succeeded(p) < N - 30, "the burst ended before the kill: make it longer"
        began = time.monotonic()
        p.start_worker(concurrency=8)
        Redis.from_url(p.redis_url).flushdb()  # queue, unacked, leases, heartbeats: all gone
        every_switch_within_recovery(p, began)
        assert_every_device_on_once(p, killed)


def test_a_worker_killed_mid_burst_its_messages_go_to_another_within_seconds(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two workers named for two machines, both busy with the burst; one machine dies. Its
    messages go to the worker on the other machine, by the dead one's lapsed heartbeat:
    nothing is keyed by host (both processes here share one, as two machines may share a
    host name), and a worker started after the death takes its share too."""
    with burst(tmp_path, postgres_url, N, {}) as p:
        p.start_worker(concurrency=4, hostname="worker@host-a")
        p.start_worker(concurrency=4, hostname="worker@host-b")  # both up before the burst
        with scheduler(p) as log:
            _take_over_from_host_a(p, log)


def _take_over_from_host_a(p: Pipeline, log: Path) -> None:
    wait_until(lambda: succeeded(p) >= 10, 30, "the burst under way")
    p.kill_worker(0)  # host-a gone, with what it held
    killed = time.time()
    assert succeeded(p) < N - 30, "the burst ended before the kill: make it longer"
    began = time.monotonic()
    p.start_worker(concurrency=8, hostname="worker@host-c")
    every_switch_within_recovery(p, began)
    assert_every_device_on_once(p, killed)
    # the dead worker's messages came back through its heartbeat, long before kombu's
    # visibility timeout (900 s)
    assert "messages of workers that died" in log.read_text()


def test_a_live_worker_keeps_its_messages_when_redis_is_emptied(
    tmp_path: Path, postgres_url: str
) -> None:
    # Each PUT takes 20 s at Exotel: longer than the sweep waits before it calls an action
    # lost. Redis emptied, only the live worker's heartbeat says that it has them.
    n = 3
    slow = {"SHIFTSWITCH_HTTP_TIMEOUT": "30", "SHIFTSWITCH_LOCK_TTL": "40"}
    with burst(tmp_path, postgres_url, n, slow) as p:
        # the first n PUTs hang; any other (a repeat) is answered at once, and logged
        hang = {"status": "hang", "seconds": 20, "times": n, "method": "PUT"}
        p.control("PUT", "faults", {"rules": [hang]})
        p.start_worker(concurrency=8)
        with scheduler(p) as log:
            wait_until(
                lambda: [a.status for a in p.actions()] == [Status.RUNNING] * n,
                30,
                "every PUT in flight",
            )
            # (one may still wait for its request slot: then the flush takes its user's lock,
            # and the worker, unable to renew it, does not send; it sends on a retry instead)
            Redis.from_url(p.redis_url).flushdb()
            wait_until(lambda: succeeded(p) == n, 40, "the slow PUTs answered")
            p.drain()  # a message sent again would be run by now
            text = log.read_text()
        sent = collections.Counter(r["device_id"] for r in p.puts())
        assert sent == {f"{6000 + i}": 1 for i in range(n)}, sent
        assert "scheduler starting" in text
        assert "requeued" not in text and "restored" not in text
