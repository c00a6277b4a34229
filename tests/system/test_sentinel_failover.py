"""Redis through Sentinel, its primary killed during a boundary: real ``redis-server`` primary
and replica, three ``redis-sentinel`` processes, two ``shiftswitch worker`` processes and a
``shiftswitch scheduler``, all given ``REDIS_URL=sentinel://...;sentinel://...`` with
``SHIFTSWITCH_REDIS_MASTER`` and both passwords. The sentinels promote the replica; the broker,
the rate limiter, the leases, the heartbeats and the scheduler's leadership follow it, and every
switch of the boundary is applied, once, within 30 s of the promotion.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

from shiftswitch.models import Status
from tests.pipeline import assign_all_from, pipeline, roster_yaml, user, wait_until
from tests.sentinels import MASTER, sentinel_group

AGENTS = 40  # at 480 requests a minute: a boundary of 5 s
AHEAD = 4  # seconds from the roster's edit to the boundary
WITHIN = 30.0  # seconds after the promotion: every switch applied
PASSWORD, SENTINEL_PASSWORD = "primary-secret-4e1f", "sentinel-secret-9ab2"


def test_the_primary_killed_mid_boundary_every_switch_applied_once_after_the_failover(
    tmp_path: Path, postgres_url: str
) -> None:
    agents = {f"a{i:02d}": (f"u-{i}", {"desk": f"{7400 + i}"}) for i in range(AGENTS)}
    users = [user(f"u-{i}", (f"{7400 + i}", "Desk", f"+9199320{7400 + i}")) for i in range(AGENTS)]

    def roster(url: str) -> str:
        text = roster_yaml(url, agents, [], rate_limit="480/min")
        return text.replace("shifts:\n", "shifts: []\n")

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with sentinel_group(redis_dir, PASSWORD, SENTINEL_PASSWORD) as group:
        env = {
            "REDIS_URL": group.url,
            "SHIFTSWITCH_REDIS_MASTER": MASTER,
            "SHIFTSWITCH_REDIS_PASSWORD": PASSWORD,
            "SHIFTSWITCH_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
        }
        with pipeline(tmp_path, postgres_url, users, roster, sandbox_rate_limit="480/min",
                      env=env) as p:  # fmt: skip
            p.start_worker(concurrency=8)
            p.start_worker(concurrency=8)
            p.start_scheduler_process("--tick", "0.5")
            assign_all_from(p.roster_path, agents, AHEAD)

            def succeeded() -> int:
                return sum(a.status == Status.SUCCEEDED for a in p.actions())

            wait_until(lambda: succeeded() >= 10, AHEAD + 30, "the boundary under way")
            group.kill_primary()
            assert succeeded() < AGENTS - 20, "the boundary ended before the kill: make it longer"
            promoted = group.wait_promoted()
            wait_until(
                lambda: succeeded() == AGENTS,
                WITHIN - (time.monotonic() - promoted),
                f"every switch within {WITHIN:g} s of the promotion",
                detail=lambda: collections.Counter(a.status for a in p.actions()),
            )
            actions = p.actions()
            ons = collections.Counter(
                r["device_id"] for r in p.puts() if r["body"] == {"available": True}
            )
            logs = "".join(log.read_text(errors="replace") for log in p.logs)
            alive = [proc.poll() is None for proc in p.workers + p.schedulers]
    assert len(actions) == AGENTS and {a.status for a in actions} == {Status.SUCCEEDED}
    assert ons == {f"{7400 + i}": 1 for i in range(AGENTS)}, "each device switched ON once"
    assert alive == [True, True, True], "workers and scheduler rode out the failover"
    assert PASSWORD not in logs and SENTINEL_PASSWORD not in logs
