"""A user whose switch must wait for its retry is kept by its worker, named by the worker's
heartbeat, and handed back to the broker when the worker stops: real worker and scheduler
processes."""

from __future__ import annotations

import collections
import json
import signal
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from shiftswitch import broker
from shiftswitch.heartbeats import read_beats
from shiftswitch.models import Status
from tests.pipeline import pipeline, roster_yaml, user, wait_until

N = 3
WAITING = "main/u-0"  # the user whose first PUT fails: its retry is 12-24 s away
BACKOFF = {
    "SHIFTSWITCH_RETRY_BASE_DELAY": "24",
    "SHIFTSWITCH_RETRY_MAX_DELAY": "60",
    "SHIFTSWITCH_VISIBILITY_TIMEOUT": "900",
}


def test_a_worker_stopping_hands_the_users_it_keeps_back_to_the_broker(
    tmp_path: Path, postgres_url: str
) -> None:
    users = [user(f"u-{i}", (f"{6000 + i}", "Desk", f"+9199200{i:05d}")) for i in range(N)]
    agents = {f"a{i}": (f"u-{i}", {"desk": f"{6000 + i}"}) for i in range(N)}
    start = (datetime.now(UTC).hour - 1) % 24  # a shift in progress: every device ON now
    shifts = [{"name": "now", "start": f"0 {start} * * *", "duration": "3h", "members": [*agents]}]
    with pipeline(
        tmp_path, postgres_url, users, lambda u: roster_yaml(u, agents, shifts, "60/s"), env=BACKOFF
    ) as p:
        redis = Redis.from_url(p.redis_url)
        fail = {"status": 500, "times": 1, "method": "PUT", "device_id": "6000"}
        p.control("PUT", "faults", {"rules": [fail]})
        p.start_worker(concurrency=4)
        scheduler = p.start_scheduler_process("--tick", "0.5")

        def kept_alone() -> bool:
            beats = read_beats(redis)
            done = sum(a.status == Status.SUCCEEDED for a in p.actions())
            alone = set(beats.owners) == {WAITING} and not beats.tags and beats.kept == 1
            return done == N - 1 and alone

        wait_until(kept_alone, 30, f"{WAITING} kept by the worker, in no message")
        assert redis.llen(broker.QUEUE) == 0 and redis.hlen(broker.UNACKED_KEY) == 0
        p.kill_worker(0, signal.SIGTERM)  # a warm shutdown
        assert p.workers[0].wait(timeout=30) == 0
        (raw,) = redis.lrange(broker.QUEUE, 0, -1)  # the user, back in the broker
        assert json.loads(raw)["headers"]["kwargsrepr"].count(WAITING) == 1
        assert read_beats(redis).owners == {}
        assert "handed back to the broker" in p.worker_logs()

        p.start_worker(concurrency=4)  # takes the user when its retry is due
        wait_until(
            lambda: {a.status for a in p.actions()} == {Status.SUCCEEDED}, 40, "every switch"
        )
        sent = collections.Counter(r["device_id"] for r in p.puts())
        assert sent == {"6000": 2, "6001": 1, "6002": 1}, sent  # the failed PUT, and its retry
        scheduler.terminate()
        scheduler.wait(timeout=30)
        assert "requeued" not in (tmp_path / "scheduler0.log").read_text()
