"""A WFM export with a break inside a shift, imported into the roster file a running scheduler
reads: the agent's device goes ON at the shift's start, OFF at the break, ON after it and OFF at
the end, each at its time.

Real processes on the real clock: the sandbox, a ``shiftswitch worker`` and a ``shiftswitch
scheduler``; the export is imported with ``shiftswitch roster import-shifts`` while they run.
Its times have seconds, so the test takes half a minute rather than an hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.pipeline import Pipeline, SharedWorker, pipeline, roster_yaml, user, wait_until

AHEAD = 8  # seconds from the import to the shift's start
LATE = 2.5  # a switch reaches Exotel at most this long after its time
MAPPING = "activity: activity\non: [Phone]\noff: [Lunch]\n"


def switches(p: Pipeline, since: float) -> list[tuple[bool, float]]:
    """(ON?, when) of each PUT to ravi's desk that Exotel accepted since ``since``."""
    return [
        (bool(r["body"]["available"]), float(r["started"]))
        for r in p.sandbox_log()
        if r["method"] == "PUT" and r["device_id"] == "7100" and r["status"] == 200
        and r["started"] >= since and "available" in (r["body"] or {})
    ]  # fmt: skip


def test_a_break_in_an_imported_shift_is_an_off_and_an_on_at_their_times(
    tmp_path: Path, postgres_url: str, shared_worker: SharedWorker
) -> None:
    agents = {"ravi": ("u-7", {"desk": "7100"})}
    users = [user("u-7", ("7100", "Desk", "+919931007100"))]

    def roster(url: str) -> str:
        return roster_yaml(url, agents, []).replace("shifts:\n", "shifts: []\n")

    with pipeline(tmp_path, postgres_url, users, roster, shared=shared_worker) as p:
        p.start_worker()
        p.start_scheduler_process("--tick", "0.5")
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=AHEAD)
        at = [start + timedelta(seconds=s) for s in (0, 4, 8, 12)]  # ON, lunch, back, end

        def t(i: int) -> str:
            return at[i].strftime("%Y-%m-%dT%H:%M:%S")

        (tmp_path / "today.csv").write_text(
            "agent,start,end,activity\n"
            f"ravi,{t(0)},{t(1)},Phone\nravi,{t(1)},{t(2)},Lunch\nravi,{t(2)},{t(3)},Phone\n"
        )
        (tmp_path / "map.yaml").write_text(MAPPING)
        done = p.cli(
            "roster", "import-shifts", str(tmp_path / "today.csv"), "--mapping",
            str(tmp_path / "map.yaml"), "--into", str(p.roster_path),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        since = start.timestamp() - 1
        wait_until(
            lambda: len(switches(p, since)) >= 4,
            AHEAD + 12 + 15,
            "ON, OFF at lunch, ON after it, OFF at the end",
            detail=lambda: switches(p, since),
        )
        got = switches(p, since)
        assert [on for on, _ in got] == [True, False, True, False]
        for (_, when), due in zip(got, at, strict=True):
            assert due.timestamp() <= when < due.timestamp() + LATE, (due, when, got)
