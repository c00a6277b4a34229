"""The roster versions in force over a period (README: Reports): each read, and planned, when
first needed, and the planned intervals of the last periods asked kept."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shiftswitch.adherence.figures import Planned
from shiftswitch.adherence.planned import Device, planned_intervals
from shiftswitch.adherence.query import BadQuery
from shiftswitch.planning.planner import Planner
from shiftswitch.problems import RosterError
from shiftswitch.roster import canonical
from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Roster
from shiftswitch.roster_tables import RosterVersion


class Version:
    """A roster version in force from ``since``: read, and planned, when first needed;
    ``digest``: its content's (None: the roster in force, no version recorded)."""

    def __init__(
        self, since: datetime, text: Callable[[], str] | None, roster: Roster, digest: str | None
    ) -> None:
        self.since, self._text, self._roster, self.digest = since, text, roster, digest

    @functools.cached_property
    def roster(self) -> Roster:
        return self._roster if self._text is None else _stored(self._text())

    def planner(self) -> Planner:
        return Planner(self._roster) if self._text is None else _planner_of(self._text())


def in_force(session: Session, start: datetime, end: datetime, roster: Roster) -> list[Version]:
    """The versions in force in ``[start, end)``, oldest first; without any: ``roster``, for
    the whole period."""
    found = session.execute(
        select(RosterVersion.number, RosterVersion.created_at, RosterVersion.digest)
        .where(RosterVersion.created_at < end)
        .order_by(RosterVersion.number)
    ).all()
    first = 0
    for i, (_number, at, _digest) in enumerate(found):
        if at <= start:
            first = i
    kept = found[first:]
    if not kept:
        return [Version(datetime.min.replace(tzinfo=start.tzinfo), None, roster, None)]
    engine = session.get_bind()
    return [Version(at, _content_of(engine, n), roster, digest) for n, at, digest in kept]


# The planned intervals of the last periods asked, by the database, the versions in force
# (when each was stored, and its content's digest), the period and the agents: the console asks
# the same week again and again, and a version's plan never changes.
_PLANS: OrderedDict[tuple[Any, ...], dict[Device, list[Planned]]] = OrderedDict()
PLANS_KEPT = 4
_PLANS_LOCK = threading.Lock()  # the API asks from several threads


def planned_of(
    engine: Engine, versions: list[Version], start: datetime, end: datetime, scope: set[str] | None
) -> dict[Device, list[Planned]]:
    """The planned intervals of ``[start, end)`` (:func:`planned_intervals`), kept for the
    last periods asked."""
    key = (
        engine.url.render_as_string(hide_password=True),
        tuple((v.since, v.digest) for v in versions),
        start, end, None if scope is None else frozenset(scope),
    )  # fmt: skip
    if any(v.digest is None for v in versions):
        return planned_intervals([(v.since, v.planner) for v in versions], start, end, scope)
    with _PLANS_LOCK:
        found = _PLANS.get(key)
        if found is not None:
            _PLANS.move_to_end(key)
            return found
    found = planned_intervals([(v.since, v.planner) for v in versions], start, end, scope)
    with _PLANS_LOCK:
        _PLANS[key] = found
        while len(_PLANS) > PLANS_KEPT:
            _PLANS.popitem(last=False)
    return found


def _content_of(engine: Any, number: int) -> Callable[[], str]:
    def load() -> str:
        with Session(engine) as session:
            text = session.scalar(
                select(RosterVersion.content).where(RosterVersion.number == number)
            )
        if text is None:
            raise BadQuery("from", f"roster version {number} was recorded without its content")
        return text

    return functools.cache(load)


# The last versions read and planned, by their text: a report asked again (the console's) reads
# the versions' text again, but neither parses nor indexes them again.
@functools.lru_cache(maxsize=4)
def _stored(text: str) -> Roster:
    """A version's roster: as the store wrote it, or a file as its author did (read whole)."""
    try:
        return canonical.stored(text)
    except (canonical.NotCanonical, RosterError, ValueError):
        return parse_roster(text)


@functools.lru_cache(maxsize=4)
def _planner_of(text: str) -> Planner:
    return Planner(_stored(text))
