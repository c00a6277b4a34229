"""The boundaries running, just done and next (README: Boundaries), for the API and the Now
page: a few rows whatever the number of agents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from shiftswitch.boundaries import Boundary, joined, recorded
from shiftswitch.boundary_queries import boundary_counts, boundary_lateness, ramp_keys
from shiftswitch.planning.transitions import Transition

RECENT = timedelta(hours=2)  # boundaries recorded this long ago are shown, running or not
SHOWN = 6  # recorded boundaries shown at most (every running one, then the newest)
NEXT = 3  # instants ahead shown


def boundaries(
    engine: Engine, upcoming: Iterable[Transition], now: datetime
) -> tuple[list[Boundary], list[Boundary]]:
    """(the boundaries recorded in the last two hours, running first, then newest; the next
    instants' boundaries of ``upcoming``, the plan's transitions after now)."""
    since = now - RECENT
    with engine.connect() as conn:
        found = recorded(boundary_counts(conn, since, now), boundary_lateness(conn, since, now))
        sent = ramp_keys(conn, now) if any(b.at > now for b in found) else set()
    after = (t for t in upcoming if t.at > now)  # one at now is recorded, or about to be
    coming = joined(found, after, NEXT, sent)
    running = [b for b in found if b.running]
    done = [b for b in found if not b.running]
    return (running + done)[: max(SHOWN, len(running))], coming


def as_json(engine: Engine, upcoming: Iterable[Transition], now: datetime) -> dict[str, Any]:
    """``GET /api/v1/boundaries``."""
    done, coming = boundaries(engine, upcoming, now)
    return {
        "at": now.isoformat().replace("+00:00", "Z"),
        "recorded": [b.as_json() for b in done],
        "next": [b.as_json() for b in coming],
    }
