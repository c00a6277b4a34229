"""A boundary's lateness summed by the database: PostgreSQL in SQL, SQLite in Python, the same
median and worst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shiftswitch.db import make_engine
from shiftswitch.models import Action, Status
from shiftswitch.queries import boundary_counts, boundary_lateness

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
