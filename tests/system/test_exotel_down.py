"""Exotel failing every request across a boundary (HTTP 500, then connections refused): the
outage is noticed once, nothing is spent on retries while it lasts, and every device is right
within seconds of Exotel's return.

Real processes on the real clock: the sandbox, a ``shiftswitch worker`` and a ``shiftswitch
scheduler``. The boundary is an override starting seconds after the test starts (a cron shift
would wait for a whole minute). The 5-minute version of this, with Exotel answering 500 or
refusing connections, is ``benchmarks/bench_outage.py`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from shiftswitch.models import DeviceState, ExotelOutage, Status
from tests.pipeline import Pipeline, pipeline, roster_yaml, user, wait_until

N = 12
AHEAD = 12.0  # seconds from the scheduler's start to the boundary: its first reads are done
DOWN_BEFORE = 5.0  # Exotel fails every request from this long before the boundary ...
DOWN_FOR = 20.0  # ... for this long
BACK_WITHIN = 30.0  # every device right this long after Exotel answers again, at most


def roster(base_url: str, boundary: datetime) -> str:
    """N agents, each with its desk ON from ``boundary`` for an hour (an override each)."""
    agents = {f"a{i}": (f"u-{i}", {"desk": f"{7000 + i}"}) for i in range(N)}
    text = roster_yaml(base_url, agents, [], rate_limit="20/s").replace("shifts:\n", "shifts: []\n")
    end = boundary + timedelta(hours=1)
    lines = [
        f"  - {{agent: a{i}, device: desk, from: '{boundary.isoformat()}', "
        f"to: '{end.isoformat()}'}}"
        for i in range(N)
    ]
    return text + "overrides:\n" + "\n".join(lines) + "\n"


def devices_on(p: Pipeline) -> int:
    return sum(p.device(f"u-{i}", f"{7000 + i}")["available"] is True for i in range(N))


def test_exotel_failing_across_a_boundary_every_device_right_within_seconds_of_its_return(
    tmp_path: Path, postgres_url: str
) -> None:
    users = [user(f"u-{i}", (f"{7000 + i}", "Desk", f"+91993100{i:04d}")) for i in range(N)]
    boundary = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=AHEAD)
    with pipeline(tmp_path, postgres_url, users, lambda url: roster(url, boundary)) as p:
        p.start_worker()
        p.start_scheduler_process("--tick", "0.5")
        with p.store.sessions() as session:
            wait_until(
                lambda: len(session.scalars(select(DeviceState)).all()) == N,
                AHEAD - DOWN_BEFORE,
                "the first reads of every device",
            )
        wait_until(
            lambda: datetime.now(UTC) >= boundary - timedelta(seconds=DOWN_BEFORE),
            AHEAD,
            "the outage's start",
        )
        p.control("PUT", "faults", {"rules": [{"status": 500, "times": None}]})
        went_down = time.time()

        def outages() -> list[ExotelOutage]:
            with p.store.sessions() as session:
                return list(session.scalars(select(ExotelOutage)))

        wait_until(lambda: len(outages()) == 1, DOWN_BEFORE + 10, "the outage recorded")
        said = p.cli("status").stdout
        assert "EXOTEL DOWN: account main since" in said and "500 1004" in said, said
        # Half way, the host goes: connections refused.
        half = went_down + DOWN_FOR / 2
        wait_until(lambda: time.time() >= half, DOWN_FOR, "half the outage")
        p.sandbox.port = int(p.sandbox.url.rsplit(":", 1)[1])  # the same port, when it returns
        p.sandbox.stop()
        wait_until(lambda: time.time() >= went_down + DOWN_FOR, DOWN_FOR, "Exotel's return")
        p.sandbox.start()
        p.control("PUT", "faults", {"rules": []})
        back = time.time()
        assert devices_on(p) == 0
        assert {a.status for a in p.actions()} == {Status.PENDING}  # none failed for good
        wait_until(lambda: devices_on(p) == N, BACK_WITHIN + 15, "every device ON")
        right = time.time() - back
        actions = p.settle()
        log = p.sandbox_log()

    assert right <= BACK_WITHIN, f"every device ON {right:.1f} s after Exotel's return"
    assert len(actions) == N and {a.status for a in actions} == {Status.SUCCEEDED}
    (outage,) = outages()
    assert outage.ended_at is not None and outage.account == "main"
    # Once the outage was noticed, no PUT until Exotel answered again: probes only (those made
    # while the host was gone reached no log).
    noticed = outage.started_at.timestamp() + 1.0
    during = [r for r in log if noticed < r["started"] < back]
    assert {r["method"] for r in during} <= {"GET"}
    assert len(during) <= (back - noticed) / 5 + 2  # one probe every 5 s
    assert sum(r["method"] == "PUT" and r["started"] < noticed for r in log) <= 6 * N
    # Said once each, not per request.
    worker_log, scheduler_log = (path.read_text() for path in p.logs)
    assert worker_log.count("exotel_down") == 1, worker_log[-3000:]
    assert scheduler_log.count("exotel_back") == 1, scheduler_log[-3000:]
