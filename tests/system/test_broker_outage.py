"""Redis away under a running worker: back within seconds of Redis, and said once.

A real ``shiftswitch worker`` on a ``redis-server`` of the test's own, which the test kills and
starts again on the same port (empty: no persistence). kombu alone would try again after 2, 4,
6 ... up to 30 s, and so come back up to 30 s after Redis: after an 8 s outage, 4 s late.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.pipeline import free_port, pipeline, roster_yaml, user, wait_until
from tests.services import RedisServer

DOWN_FOR = 8.0  # seconds: kombu's own tries would be at 6 s and 12 s after the loss
BACK_WITHIN = 2.0  # kombu's own: 4 s


def test_a_worker_is_back_within_seconds_of_redis_and_says_the_outage_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    redis = RedisServer(free_port(), tmp_path)
    redis.start()
    users = [user("u-100", ("100280", "Desk", "+919953125001"))]
    agents = {"asha": ("u-100", {"desk": "100280"})}
    shifts = [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha"]}]
    try:
        with pipeline(
            tmp_path,
            sqlite_url,
            users,
            lambda url: roster_yaml(url, agents, shifts),
            env={"REDIS_URL": redis.url},
        ) as p:
            p.start_worker(concurrency=2, extra_env={"REDIS_URL": redis.url})
            log = p.logs[0]
            wait_until(lambda: "ready." in log.read_text(), 30, "the worker ready")
            redis.stop()
            lost = time.monotonic()
            wait_until(
                lambda: "Cannot connect to" in log.read_text(), 10, "the worker to see Redis gone"
            )
            wait_until(lambda: time.monotonic() >= lost + DOWN_FOR, DOWN_FOR + 1, "the outage")
            redis.start()
            back = time.monotonic()
            wait_until(
                lambda: log.read_text().count("Connected to") >= 2,
                30,
                "the worker connected again",
                lambda: log.read_text()[-2000:],
            )
            again = time.monotonic() - back
            done = p.cli("device", "on", "asha", "desk", "--wait", "--timeout", "20")
            assert done.returncode == 0, done.stdout + done.stderr
            assert p.device("u-100", "100280")["available"] is True
            text = log.read_text()
    finally:
        redis.stop()
    assert again <= BACK_WITHIN, f"connected again {again:.1f} s after Redis"
    assert text.count("Cannot connect to") == 1, text[-3000:]  # once per outage, not per try
