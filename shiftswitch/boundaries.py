"""Boundaries as a whole (README: Boundaries): an instant at which an account's devices switch,
counted, rather than one row per agent. At 2,000 agents a 19:00 boundary is 800 ONs and 790
OFFs, and at 50 requests a minute it runs for 16 minutes: ops people follow it by its counts
(due, confirmed, failed, blocked, to go), its lateness and its progress.

Pure: the boundaries recorded are made of the actions table's counts (:func:`recorded`), the
boundaries ahead of the plan's transitions (:func:`ahead`); the shells read and show them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from shiftswitch.models import Status
from shiftswitch.planning.transitions import Transition

TO_GO = frozenset({Status.PENDING, Status.QUEUED, Status.RUNNING})


@dataclass(slots=True)
class Boundary:
    """One account's switches due at one instant."""

    at: datetime
    account: str
    ons: int = 0
    offs: int = 0
    confirmed: int = 0
    failed: int = 0
    blocked: int = 0
    superseded: int = 0
    to_go: int = 0
    # Seconds from the instant to the confirmation of its switches confirmed: the median, the
    # worst (None: none confirmed yet).
    late_p50: float | None = None
    late_max: float | None = None

    @property
    def due(self) -> int:
        return self.ons + self.offs

    @property
    def done(self) -> int:
        return self.due - self.to_go

    @property
    def running(self) -> bool:
        return self.to_go > 0

    @property
    def progress(self) -> float:
        return self.done / self.due if self.due else 1.0

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "account": self.account,
            "due": self.due,
            "ons": self.ons,
            "offs": self.offs,
            "confirmed": self.confirmed,
            "failed": self.failed,
            "blocked": self.blocked,
            "superseded": self.superseded,
            "to_go": self.to_go,
            "running": self.running,
            "progress": round(self.progress, 4),
            "late_p50_s": None if self.late_p50 is None else round(self.late_p50, 3),
            "late_max_s": None if self.late_max is None else round(self.late_max, 3),
        }


def recorded(
    counts: Iterable[tuple[datetime, str, bool, str, int]],
    lateness: Iterable[tuple[datetime, str, float, float]] = (),
) -> list[Boundary]:
    """The boundaries the scheduler recorded, newest first: ``counts`` are (instant, account,
    ON?, status, how many) of its switches; ``lateness`` (instant, account, median and worst
    seconds from the instant to the confirmation) of those confirmed."""
    found: dict[tuple[datetime, str], Boundary] = {}
    for at, account, on, status, n in counts:
        b = found.get((at, account))
        if b is None:
            b = found[(at, account)] = Boundary(at, account)
        if on:
            b.ons += n
        else:
            b.offs += n
        if status == Status.SUCCEEDED:
            b.confirmed += n
        elif status == Status.FAILED:
            b.failed += n
        elif status == Status.BLOCKED:
            b.blocked += n
        elif status == Status.SUPERSEDED:
            b.superseded += n
        elif status in TO_GO:
            b.to_go += n
    for at, account, p50, worst in lateness:
        b = found.get((at, account))
        if b is not None:
            b.late_p50, b.late_max = p50, worst
    return sorted(found.values(), key=lambda b: (-b.at.timestamp(), b.account))


def ahead(transitions: Iterable[Transition], limit: int) -> list[Boundary]:
    """The next ``limit`` boundaries of ``transitions`` (in order), by instant and account; a
    ramped ON counts at the boundary it serves."""
    found: dict[tuple[datetime, str], Boundary] = {}
    instants: set[datetime] = set()
    for t in transitions:
        at = t.boundary or t.at
        b = found.get((at, t.account))
        if b is None:
            if at not in instants and len(instants) == limit:
                break
            instants.add(at)
            b = found[(at, t.account)] = Boundary(at, t.account)
        if t.available:
            b.ons += 1
        else:
            b.offs += 1
        b.to_go += 1
    return sorted(found.values(), key=lambda b: (b.at, b.account))


def joined(
    found: list[Boundary],
    upcoming: Iterable[Transition],
    limit: int,
    sent: Collection[str] = frozenset(),
) -> list[Boundary]:
    """The next ``limit`` boundaries of ``upcoming`` (the plan after now, in order) that are
    not among ``found`` (recorded). A ramp under way is one boundary: its ONs sent so far are
    in ``found``, under the start they serve; those of ``upcoming`` serving it are added to it,
    still to go (but for the keys in ``sent``: recorded already, moved later by an edit). A
    ramped ON comes before its start, so ``upcoming`` is read for that until the latest
    recorded boundary."""
    by_key = {(b.at, b.account): b for b in found}
    last = max((b.at for b in found), default=None)
    items = iter(upcoming)
    head: list[Transition] = []
    for t in items:
        under_way = by_key.get((t.boundary or t.at, t.account))
        if under_way is None:
            head.append(t)
        elif t.key not in sent:
            if t.available:
                under_way.ons += 1
            else:
                under_way.offs += 1
            under_way.to_go += 1
        if last is None or t.at >= last:
            break
    return ahead(chain(head, items), limit)
