"""A user whose switch must wait for its retry is kept by its worker, named by the worker's
heartbeat, and handed back to the broker when the worker stops: real worker and scheduler
processes."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis

from shiftswitch import broker
from shiftswitch.heartbeats import read_beats
from shiftswitch.models import Status
from tests.pipeline import Pipeline, pipeline, roster_yaml, user, wait_until

N = 3
WAITING = "main/u-0"  # the user whose first PUT fails: its retry is 12-24 s away
BACKOFF = {
    "SHIFTSWITCH_RETRY_BASE_DELAY": "24",
    "SHIFTSWITCH_RETRY_MAX_DELAY": "60",
    "SHIFTSWITCH_VISIBILITY_TIMEOUT": "900",
}


@contextmanager
def _setup(
    tmp_path: Path, postgres_url: str, backoff: dict[str, str]
) -> Iterator[tuple[Pipeline, Redis, subprocess.Popen[bytes]]]:
    """Three users switched ON by a worker; the first PUT of WAITING fails, and its retry is
    waited for in the worker (checked: in no message, named by the heartbeat)."""
    users = [user(f"u-{i}", (f"{6000 + i}", "Desk", f"+9199200{i:05d}")) for i in range(N)]
    agents = {f"a{i}": (f"u-{i}", {"desk": f"{6000 + i}"}) for i in range(N)}
    start = (datetime.now(UTC).hour - 1) % 24  # a shift in progress: every device ON now
    shifts = [{"name": "now", "start": f"0 {start} * * *", "duration": "3h", "members": [*agents]}]
    with pipeline(
        tmp_path, postgres_url, users, lambda u: roster_yaml(u, agents, shifts, "60/s"), env=backoff
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
        try:
            yield p, redis, scheduler
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=30)


def test_a_worker_stopping_hands_the_users_it_keeps_back_to_the_broker(
    tmp_path: Path, postgres_url: str
) -> None:
    with _setup(tmp_path, postgres_url, BACKOFF) as (p, redis, _scheduler):
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
    assert "requeued" not in (tmp_path / "scheduler0.log").read_text()


def test_a_user_kept_by_a_worker_that_dies_is_sent_again_after_its_wait(
    tmp_path: Path, postgres_url: str
) -> None:
    """Killed, the worker hands nothing back: once its heartbeat is gone and the retry it
    planned is past, the scheduler's sweep sends the user's action again, once."""
    short = {**BACKOFF, "SHIFTSWITCH_RETRY_BASE_DELAY": "8"}  # a retry 4-8 s away
    with _setup(tmp_path, postgres_url, short) as (p, _redis, _scheduler):
        p.kill_worker(0, signal.SIGKILL)
        p.workers[0].wait(timeout=30)
        p.start_worker(concurrency=4)
        wait_until(
            lambda: {a.status for a in p.actions()} == {Status.SUCCEEDED}, 60, "every switch"
        )
        sent = collections.Counter(r["device_id"] for r in p.puts())
        assert sent == {"6000": 2, "6001": 1, "6002": 1}, sent  # the failed PUT, and its retry
        (action,) = [a for a in p.actions() if a.device_id == "6000"]
        puts = [t for t in p.attempts() if t.action_id == action.id and t.request[:3] == "PUT"]
        failed, retried = sorted(puts, key=lambda t: t.number)
        assert (failed.http_code, retried.http_code) == (500, 200)
        assert failed.retry_delay is not None and 4 <= failed.retry_delay <= 8
        assert retried.at >= failed.at + timedelta(seconds=failed.retry_delay)  # not before
    assert "requeued" in (tmp_path / "scheduler0.log").read_text()
