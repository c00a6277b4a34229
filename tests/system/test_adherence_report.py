"""The adherence report after a real shift: a ``shiftswitch scheduler`` and a ``shiftswitch
worker`` against the sandbox on the real clock. asha's desk is unverified, so Exotel refuses
her ON; ravi is held OFF by hand for the first part of his shift. The report shows asha at 0%
with Exotel's error, and ravi short of his planned time with the hold as the reason.

The shift is dated with seconds (an ``assignments:`` entry), so the test takes seconds, not an
hour: ravi's hold is 3 s of an 8 s shift rather than half an hour of a day.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shiftswitch.clock import SystemClock
from tests.commands import shiftswitch
from tests.pipeline import Pipeline, SharedWorker, pipeline, roster_yaml, user, wait_until

AHEAD = 3  # seconds from the roster's edit to the shift's start
LENGTH = 8  # seconds of shift
HELD = 3  # seconds ravi is held OFF from the shift's start


def done(p: Pipeline, end: datetime) -> bool:
    """asha's ON refused, and ravi's OFF at the shift's end applied."""
    actions = p.actions()
    refused = any(a.agent == "asha" and a.wants_on and a.status == "failed" for a in actions)
    ended = any(
        a.agent == "ravi" and not a.wants_on and a.status == "succeeded" and a.due_at >= end
        for a in actions
    )
    return refused and ended


def test_the_report_names_exotels_refusal_and_the_hold(
    tmp_path: Path, postgres_url: str, shared_worker: SharedWorker
) -> None:
    agents = {"asha": ("u-1", {"desk": "7001"}), "ravi": ("u-2", {"desk": "7002"})}
    users = [
        user("u-1", ("7001", "Desk", "+919931007001"), verified=False),
        user("u-2", ("7002", "Desk", "+919931007002")),
    ]

    def iso(at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%S")

    def roster(url: str) -> str:
        return roster_yaml(url, agents, []).replace("shifts:\n", "shifts: []\n")

    with pipeline(tmp_path, postgres_url, users, roster, shared=shared_worker) as p:
        p.start_worker()
        p.start_scheduler_process("--tick", "0.5")
        # The shift, dated, put in the file the running scheduler reads.
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=AHEAD)
        end = start + timedelta(seconds=LENGTH)
        p.roster_path.write_text(p.roster_path.read_text() + "assignments:\n" + "".join(
            f'  - {{agent: {a}, from: "{iso(start)}", to: "{iso(end)}", shift: late}}\n'
            for a in agents
        ))  # fmt: skip
        # Dates made from the real clock, given to the command with it (as the workers keep it).
        held = shiftswitch("device", "off", "ravi", "--until",
                           iso(start + timedelta(seconds=HELD)) + "Z", "--by", "maya",
                           env=p.env, clock=SystemClock())  # fmt: skip
        assert held.returncode == 0, held.stderr
        wait_until(
            lambda: done(p, end),
            AHEAD + LENGTH + 20,
            "asha's ON refused, ravi ON after his hold and OFF at the end",
            detail=lambda: [(a.agent, a.wants_on, a.source, a.status) for a in p.actions()],
        )
        day = start.date().isoformat()
        ran = shiftswitch("report", "adherence", "--from", day, "--to", end.date().isoformat(),
                          "--format", "json", env=p.env, clock=SystemClock())  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    rows = {r["agent"]: r for r in json.loads(ran.stdout)}
    asha, ravi = rows["asha"], rows["ravi"]
    assert asha["planned_s"] == LENGTH and asha["confirmed_s"] == 0 and asha["adherence"] == 0
    assert any("ON failed" in r and "1003" in r and "unverified" in r for r in asha["reasons"])
    assert ravi["planned_s"] == LENGTH
    assert LENGTH - HELD - 3 <= ravi["confirmed_s"] <= LENGTH - HELD, ravi
    assert ravi["late_starts"] == 0 and ravi["late_start_s"] >= HELD  # late, under a minute
    assert [r for r in ravi["reasons"] if r.startswith("held OFF by maya")], ravi["reasons"]
