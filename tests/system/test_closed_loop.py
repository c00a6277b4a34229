"""shiftswitch trusts Exotel's real state over its own records (README: How switching works),
with real scheduler and worker processes on the real clock against the sandbox over HTTP.

- the late ON: an ON that hung, answered too late for the client, lands after the OFF that
  followed it; the read-back finds the device ON and turns it OFF;
- drift: a phone turned ON in Exotel's app is found by the automatic check and turned OFF; a
  check that finds nothing sends nothing; a boundary during a check is not delayed;
- the first start reads 500 devices never confirmed in 10 pages, and sets only those that differ;
- two schedulers started together: each device is read and set once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shiftswitch.models import RemoteCheck
from tests.pipeline import Pipeline, pipeline, roster_yaml, wait_until


def users(count: int, on: Sequence[int] = ()) -> list[dict[str, Any]]:
    """``count`` sandbox users u-0.. with one device each (100000 + i), ON for those in ``on``."""
    return [
        {
            "id": f"u-{i}",
            "first_name": f"a{i}",
            "devices": [
                {
                    "id": str(100000 + i),
                    "name": "Desk",
                    "contact_uri": f"+9199531{i:05d}",
                    "verified": True,
                    "available": i in on,
                }
            ],
        }
        for i in range(count)
    ]


def roster(
    url: str,
    count: int,
    in_shift: Sequence[int] = (),
    overrides: Sequence[tuple[int, datetime, datetime]] = (),
    rate_limit: str = "100/s",
) -> str:
    """Agents a0.. for the users above; ``in_shift`` ON all day; each override (agent, from,
    to) turns that agent's desk ON in between."""
    agents = {f"a{i}": (f"u-{i}", {"desk": str(100000 + i)}) for i in range(count)}
    shifts = []
    if in_shift:
        shifts.append(
            {
                "name": "all-day",
                "start": "0 0 * * *",
                "duration": "24h",
                "members": [f"a{i}" for i in in_shift],
            }
        )
    text = roster_yaml(url, agents, shifts, rate_limit=rate_limit)
    if not shifts:
        text = text.replace("shifts:\n", "shifts: []\n")
    if overrides:
        text += "overrides:\n" + "".join(
            f"  - {{agent: a{i}, device: desk, from: '{start.isoformat(timespec='seconds')}', "
            f"to: '{end.isoformat(timespec='seconds')}'}}\n"
            for i, start, end in overrides
        )
    return text


@contextmanager
def world(
    tmp: Path,
    database_url: str,
    count: int,
    on: Sequence[int] = (),
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> Iterator[Pipeline]:
    with pipeline(
        tmp,
        database_url,
        users(count, on),
        lambda url: roster(url, count, **kwargs),
        env=env,
    ) as p:
        yield p


def puts(p: Pipeline) -> list[dict[str, Any]]:
    return [r for r in p.sandbox_log() if r["method"] == "PUT"]


def checks(p: Pipeline, kind: str) -> list[RemoteCheck]:
    with p.store.sessions() as session:
        return list(
            session.scalars(
                select(RemoteCheck).where(RemoteCheck.kind == kind).order_by(RemoteCheck.id)
            )
        )


def on_in_sandbox(p: Pipeline, i: int) -> bool:
    return bool(p.device(f"u-{i}", str(100000 + i))["available"])


def second(delay: float) -> datetime:
    """A whole second at least ``delay`` seconds from now, UTC."""
    return datetime.fromtimestamp(int(time.time() + delay) + 1, UTC)


def test_the_late_on_is_found_by_the_read_back_and_turned_off(
    tmp_path: Path, sqlite_url: str
) -> None:
    start = second(8)
    end = start + timedelta(seconds=5)
    with world(
        tmp_path,
        sqlite_url,
        1,
        env={"SHIFTSWITCH_READ_BACK_AFTER": "10"},
        overrides=[(0, start, end)],
    ) as p:
        # Exotel holds the first ON 7 s: the client gives up after 1 s, the retry is answered,
        # the OFF at the end of the override is answered, then the held ON lands.
        rules = [
            {
                "status": "hang",
                "seconds": 7,
                "method": "PUT",
                "device_id": "100000",
                "available": True,
                "times": 1,
            }
        ]
        p.control("PUT", "faults", {"rules": rules})
        p.start_worker()
        p.start_scheduler_process()
        landed = start.timestamp() + 7

        def held_on_landed_after_the_off() -> bool:
            log = puts(p)
            offs = [r for r in log if r["body"] == {"available": False}]
            return bool(offs) and any(
                r["body"] == {"available": True} and r["finished"] > offs[0]["finished"]
                for r in log
            )

        wait_until(held_on_landed_after_the_off, 30, "the held ON landing after the OFF")
        wait_until(lambda: bool(checks(p, "read-back")), 30, "the read-back")
        wait_until(lambda: not on_in_sandbox(p, 0), 15, "the device OFF again")
        (read_back,) = checks(p, "read-back")
        assert read_back.at.timestamp() >= landed - 0.5
        assert read_back.findings == [
            {"agent": "a0", "device": "desk", "wanted": False, "found": True, "action": None}
        ]
        p.settle()
        # (On a loaded machine a first read may land after the shift began, and set the ON
        # itself: a correction too, before the late ON. After it lands: the OFF, once.)
        corrections = [
            a for a in p.actions() if a.source == "reconcile" and a.created_at.timestamp() > landed
        ]
        assert [(a.wants_on, a.status) for a in corrections] == [(False, "succeeded")], [
            (a.key, a.wants_on, a.status, a.created_at, a.reason) for a in p.actions()
        ]
        final_off = puts(p)[-1]
        assert final_off["body"] == {"available": False} and final_off["finished"] > landed


def test_a_drift_check_finds_a_phone_turned_on_in_the_app_and_never_delays_a_boundary(
    tmp_path: Path, sqlite_url: str
) -> None:
    boundary = second(24)
    with world(
        tmp_path,
        sqlite_url,
        120,
        env={"SHIFTSWITCH_DRIFT_EVERY": "10"},
        overrides=[(0, boundary, boundary + timedelta(minutes=5))],
    ) as p:
        p.start_worker()
        p.start_scheduler_process()
        wait_until(lambda: bool(checks(p, "drift")), 30, "the first drift check")
        first = checks(p, "drift")[0]
        assert (first.devices, first.drifted, first.reads) == (120, 0, 3)
        # nothing drifted: nothing sent (but the boundary's switch, on a slow machine)
        assert [r for r in puts(p) if r["device_id"] != "100000"] == []

        p.control("PUT", "devices/acme_corp/u-50/100050", {"available": True})  # in the app
        wait_until(lambda: any(c.drifted for c in checks(p, "drift")), 30, "the drift found")
        wait_until(lambda: not on_in_sandbox(p, 50), 15, "the phone OFF again")
        assert [(r["device_id"], r["body"]) for r in puts(p) if r["device_id"] == "100050"] == [
            ("100050", {"available": False})
        ]
        found = next(c for c in checks(p, "drift") if c.drifted)
        assert found.findings == [
            {"agent": "a50", "device": "desk", "wanted": False, "found": True, "action": None}
        ]

        wait_until(lambda: on_in_sandbox(p, 0), 40, "the boundary's ON")
        (switch,) = [r for r in puts(p) if r["device_id"] == "100000"]
        b = boundary.timestamp()
        # Not held up by the check (a tick's lateness on a loaded machine aside; punctuality
        # itself is measured by benchmarks/bench_punctuality.py).
        assert switch["started"] - b < 2.5, "the boundary's switch went late"
        gets_near = [
            r
            for r in p.sandbox_log()
            if r["method"] == "GET" and b - 1.5 < r["started"] < switch["started"]
        ]
        assert gets_near == [], "a check read Exotel just before the boundary's switch"


def test_the_first_start_reads_500_devices_in_pages_and_sets_only_those_that_differ(
    tmp_path: Path, sqlite_url: str
) -> None:
    should_be_on = range(100)
    already_on = [*range(50), *range(400, 430)]  # 50 as wanted; 30 that should be OFF
    with world(tmp_path, sqlite_url, 500, on=already_on, in_shift=should_be_on) as p:
        p.start_worker()
        p.start_scheduler_process()
        wait_until(lambda: len(puts(p)) >= 80, 60, "80 switches")
        p.drain()
        sent = Counter(r["device_id"] for r in puts(p))
        assert sent == Counter(str(100000 + i) for i in [*range(50, 100), *range(400, 430)])
        gets = [r for r in p.sandbox_log() if r["method"] == "GET"]
        assert len(gets) == 10  # 500 users, 50 to a page
        (read,) = checks(p, "first-read")
        assert (read.devices, read.drifted, read.reads) == (500, 80, 10)


def test_two_schedulers_started_together_read_and_set_each_device_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    with world(tmp_path, sqlite_url, 30, on=range(30)) as p:  # all ON; the roster wants OFF
        p.start_worker()
        first = p.start_scheduler_process(wait=False)
        second_ = p.start_scheduler_process(wait=False)
        wait_until(lambda: not any(on_in_sandbox(p, i) for i in range(30)), 60, "all OFF")
        wait_until(
            lambda: all(
                "leading" in log.read_text() or "following" in log.read_text()
                for log in p.logs[-2:]
            ),
            30,
            "both schedulers started",
        )
        p.drain()
        assert first.poll() is None and second_.poll() is None
        assert Counter(r["device_id"] for r in puts(p)) == Counter(
            str(100000 + i) for i in range(30)
        )
        assert len(checks(p, "first-read")) == 1
        logs = [log.read_text() for log in p.logs[-2:]]
        assert sorted("event=following" in text or "following" in text for text in logs) == [
            False,
            True,
        ]
