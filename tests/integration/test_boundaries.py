"""A boundary's lateness summed by the database: PostgreSQL in SQL, SQLite in Python, the same
median and worst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shiftswitch.boundary_queries import boundary_actions, boundary_counts, boundary_lateness
from shiftswitch.db import make_engine
from shiftswitch.models import Action, Status

AT = datetime(2026, 12, 7, 13, 30, tzinfo=UTC)


def test_a_boundarys_counts_and_lateness(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            for i, (late, status) in enumerate(
                [(1, Status.SUCCEEDED), (10, Status.SUCCEEDED), (2, Status.SUCCEEDED),
                 (5, Status.FAILED), (None, Status.QUEUED)]
            ):  # fmt: skip
                session.add(Action(
                    key=f"k{i}", source="schedule", user_key=f"main/u-{i}", account="main",
                    sid="acme", base_url="http://127.0.0.1:9", rate_limit="50/min",
                    agent=f"a{i}", device="desk", user_id=f"u-{i}", device_id=f"{i}",
                    wants_on=True, due_at=AT, created_at=AT, status=status, attempts=1,
                    finished_at=None if late is None else AT + timedelta(seconds=late),
                ))  # fmt: skip
        with engine.connect() as conn:
            counts = sorted(boundary_counts(conn, AT - timedelta(hours=1), AT))
            late = boundary_lateness(conn, AT - timedelta(hours=1), AT)
        assert counts == [(AT, "main", True, "failed", 1), (AT, "main", True, "queued", 1),
                          (AT, "main", True, "succeeded", 3)]  # fmt: skip
        assert late == [(AT, "main", 2.0, 10.0)]  # the median of 1, 2 and 10 s, and the worst
    finally:
        engine.dispose()


def test_a_ramped_on_counts_under_the_shift_start_it_serves(database_url: str) -> None:
    # Two ONs a ramp moved 60 and 30 s before the 13:30 start, one ON at 13:30, and an OFF at
    # 13:29 serving its own instant.
    engine = make_engine(database_url)
    rows = [(-60, AT, 0), (-30, AT, -25), (0, None, 3), (-60, None, -58)]
    try:
        with Session(engine) as session, session.begin():
            for i, (due, boundary, finished) in enumerate(rows):
                session.add(Action(
                    key=f"k{i}", source="schedule", user_key=f"main/u-{i}", account="main",
                    sid="acme", base_url="http://127.0.0.1:9", rate_limit="50/min",
                    agent=f"a{i}", device="desk", user_id=f"u-{i}", device_id=f"{i}",
                    wants_on=boundary is not None or due == 0,
                    due_at=AT + timedelta(seconds=due), boundary_at=boundary,
                    created_at=AT - timedelta(minutes=5), status=Status.SUCCEEDED, attempts=1,
                    finished_at=AT + timedelta(seconds=finished),
                ))  # fmt: skip
        with engine.connect() as conn:
            counts = sorted(boundary_counts(conn, AT - timedelta(hours=1), AT))
            late = sorted(boundary_lateness(conn, AT - timedelta(hours=1), AT))
            at_start = boundary_counts(conn, AT, AT)
            mid_ramp = sorted(
                boundary_counts(conn, AT - timedelta(hours=1), AT - timedelta(seconds=20))
            )
        before = AT - timedelta(seconds=60)
        assert counts == [(before, "main", False, "succeeded", 1),
                          (AT, "main", True, "succeeded", 3)]  # fmt: skip
        assert at_start == [(AT, "main", True, "succeeded", 3)]  # the ramp's instants are not
        # 20 s before the start, the two ramped ONs sent so far already count under it.
        assert mid_ramp == [(before, "main", False, "succeeded", 1),
                            (AT, "main", True, "succeeded", 2)]  # fmt: skip
        # The ramped ONs were confirmed 25 s early and on the instant; the last one 3 s late.
        assert late == [(before, "main", 2.0, 2.0), (AT, "main", 0.0, 3.0)]
        with Session(engine) as session:
            assert [a.agent for a in boundary_actions(session, AT, "main")] == ["a0", "a1", "a2"]
    finally:
        engine.dispose()
