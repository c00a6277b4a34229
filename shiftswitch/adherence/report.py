"""``report adherence`` (README: Reports): was each agent's device confirmed ON when planned?

Gathers what the figures need (the roster versions in force, the devices' timeline, holds,
pauses, failed and blocked switches) for a period of local days, and sums the figures of
:mod:`~shiftswitch.adherence.figures` by day, shift or agent.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from shiftswitch import heap, timeline
from shiftswitch.adherence.figures import Cause, Days, Piece, Planned, figures
from shiftswitch.adherence.planned import LOOKAHEAD, LOOKBACK, Device, planned_intervals
from shiftswitch.models import Action, ActionKind, Hold, Pause, RosterVersion, Status
from shiftswitch.planning.planner import Planner
from shiftswitch.problems import RosterError
from shiftswitch.roster import canonical
from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Roster

BY = ("day", "shift", "agent")
NOTE = "a shift counts on the local day it starts"
MAX_DAYS = 92  # the longest period one report covers
MAX_REASONS = 8  # reasons listed on one row, the rest counted
YEARS = (1970, 2200)  # the days a report may name


class BadQuery(ValueError):
    """A report asked wrongly: ``place`` (an option's name) and why."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(message)
        self.place = place


@dataclass(frozen=True, slots=True)
class Query:
    first: date
    last: date  # included, whole
    agent: str | None = None
    account: str | None = None
    by: str = "agent"

    def check(self) -> Query:
        if self.by not in BY:
            raise BadQuery("by", f"{self.by!r}: give one of {', '.join(BY)}")
        if self.last < self.first:
            raise BadQuery("to", f"{self.last} is before --from {self.first}")
        if (self.last - self.first).days >= MAX_DAYS:
            raise BadQuery("to", f"at most {MAX_DAYS} days in one report; ask for less")
        return self


def day_of(text: str, place: str) -> date:
    """A ``--from``/``--to`` day: ``YYYY-MM-DD``."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadQuery(place, f"{text!r} is not a day: give YYYY-MM-DD") from None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise BadQuery(place, f"{text!r} is out of range: give a day in {YEARS[0]}-{YEARS[1]}")
    return day


@dataclass(frozen=True, slots=True)
class Report:
    query: Query
    zone: ZoneInfo
    start: datetime  # UTC: the first day's start
    end: datetime  # UTC: the last day's end, or now if sooner
    rows: list[dict[str, Any]]

    @property
    def columns(self) -> tuple[str, ...]:
        key = {"day": ("day",), "shift": ("shift",), "agent": ()}[self.query.by]
        return ("agent", "device", "account", *key, *FIGURES, "reasons")

    def title(self) -> str:
        span = f"{self.query.first}" + (
            f" to {self.query.last}" if self.query.last != self.query.first else ""
        )
        upto = self.end.astimezone(self.zone)
        cut = "" if self.end == _end_of(self) else f", up to {upto:%Y-%m-%d %H:%M}"
        return f"Adherence {span}, by {self.query.by} ({self.zone.key}; {NOTE}{cut})"


FIGURES = (
    "planned_s", "confirmed_s", "adherence", "late_starts", "late_start_s", "early_off_s",
    "unplanned_on_s", "unknown_s",
)  # fmt: skip


def _end_of(report: Report) -> datetime:
    return Days(report.query.last, report.query.last, report.zone).end


Pieces = Iterator[tuple[tuple[str, str], str | None, list[Piece]]]


def adherence(engine: Engine, query: Query, roster: Roster, now: datetime) -> Report:
    """The report of ``query`` at ``now``; ``roster``: the one in force now (its zone names
    the days; it plans the period when no version of it was recorded)."""
    days, end, pieces = _pieces(engine, query, roster, now)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    with heap.paused():
        for key, account, found in pieces:
            for piece in found:
                _add(rows, key, account, piece, query.by, roster.zone)
        out = [_finish(r) for r in rows.values() if r["planned_s"] or r["unplanned_on_s"]]
    return Report(query, roster.zone, days.start, end, out)


@dataclass(frozen=True, slots=True)
class Overview:
    """The Reports page's: per day, planned and confirmed seconds and their ratio; the agents
    with the most planned time not confirmed ON; and the period's totals."""

    zone: ZoneInfo
    first: date
    last: date
    days: list[dict[str, Any]]
    worst: list[dict[str, Any]]
    totals: dict[str, Any]


def overview(
    engine: Engine, query: Query, roster: Roster, now: datetime, worst_n: int = 10
) -> Overview:
    """:class:`Overview` of ``query``'s period, summed from the pieces without rows."""
    _days, _end, pieces = _pieces(engine, query, roster, now)
    per_day: dict[date, list[float]] = {}
    agents: dict[str, list[Any]] = {}
    totals: dict[str, Any] = {"planned_s": 0.0, "confirmed_s": 0.0, "late_starts": 0}
    totals["unplanned_on_s"] = 0.0
    with heap.paused():
        for (agent, _device), _account, found in pieces:
            missed = agents.get(agent)
            if missed is None:
                missed = agents[agent] = [0.0, 0.0, []]
            for piece in found:
                sums = per_day.get(piece.day)
                if sums is None:
                    sums = per_day[piece.day] = [0.0, 0.0]
                sums[0] += piece.planned_s
                sums[1] += piece.confirmed_s
                missed[0] += piece.planned_s - piece.confirmed_s
                missed[1] += piece.planned_s
                for reason in piece.reasons:
                    if reason not in missed[2]:
                        missed[2].append(reason)
                totals["planned_s"] += piece.planned_s
                totals["confirmed_s"] += piece.confirmed_s
                totals["late_starts"] += piece.late_starts
                totals["unplanned_on_s"] += piece.unplanned_on_s
    planned, confirmed = totals["planned_s"], totals["confirmed_s"]
    totals["adherence"] = confirmed / planned if planned else None
    totals["agents"] = sum(1 for m in agents.values() if m[1])
    ranked = sorted(agents.items(), key=lambda kv: -kv[1][0])[:worst_n]
    return Overview(
        roster.zone, query.first, query.last,
        [
            {"day": d.isoformat(), "planned_s": p, "confirmed_s": c,
             "adherence": round(c / p, 4) if p else None}
            for d, (p, c) in sorted(per_day.items())
        ],
        [
            {"agent": a, "missed_s": round(m), "planned_s": round(p), "reasons": r[:3]}
            for a, (m, p, r) in ranked if m > 0
        ],
        totals,
    )  # fmt: skip


def _pieces(
    engine: Engine, query: Query, roster: Roster, now: datetime
) -> tuple[Days, datetime, Pieces]:
    """The period's days, its end (now if sooner), and each device's pieces (made as the
    iterator is read), in (agent, device) order."""
    query.check()
    zone = roster.zone
    days = Days(query.first, query.last, zone)
    end = min(days.end, now)
    with heap.paused(), Session(engine) as session:
        versions = _versions(session, days.start - LOOKBACK, days.end + LOOKAHEAD, roster)
        accounts = {name: a.account for name, a in roster.agents.items()}
        scope = _scope(query, accounts, versions)
        planned = _planned(engine, versions, days, scope)
        for v in versions:  # agents of the period no longer in the roster
            for name, member in v.roster.agents.items():
                accounts.setdefault(name, member.account)
        ends = [p[-1].end for p in planned.values() if p]
        reach = datetime.fromtimestamp(max(ends), UTC) if ends else end
        upto = max(min(reach, now), end)
        found = timeline.spans(session, days.start, upto, agents=scope)
        causes = _causes(session, days.start, upto, zone, accounts, scope)
    on: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    unknown: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    for agent, device, state, started, ended, _action in found:
        into = on if state == timeline.ON else unknown
        into.setdefault((agent, device), []).append((started, ended))

    def each() -> Pieces:
        for key in sorted(set(planned) | set(on)):
            account = accounts.get(key[0])
            if query.account is not None and account != query.account:
                continue
            yield key, account, figures(
                planned.get(key, []), on.get(key, []), unknown.get(key, []),
                causes.get(key, []), days=days, now=now,
            )  # fmt: skip

    return days, end, each()


def _scope(query: Query, accounts: dict[str, str], versions: list[_Version]) -> set[str] | None:
    if query.agent is not None:
        known = query.agent in accounts or any(query.agent in v.roster.agents for v in versions)
        if not known:
            raise BadQuery("agent", f"no agent {query.agent!r} in the roster")
        return {query.agent}
    if query.account is not None:
        names = {n for n, a in accounts.items() if a == query.account}
        for v in versions:
            names |= {n for n, a in v.roster.agents.items() if a.account == query.account}
        if not names:
            raise BadQuery("account", f"no account {query.account!r} in the roster")
        return names
    return None


class _Version:
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


def _versions(session: Session, start: datetime, end: datetime, roster: Roster) -> list[_Version]:
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
        return [_Version(datetime.min.replace(tzinfo=start.tzinfo), None, roster, None)]
    engine = session.get_bind()
    return [_Version(at, _content_of(engine, n), roster, digest) for n, at, digest in kept]


# The planned intervals of the last periods asked, by the database, the versions in force
# (when each was stored, and its content's digest), the period and the agents: the console asks
# the same week again and again, and a version's plan never changes.
_PLANS: OrderedDict[tuple[Any, ...], dict[Device, list[Planned]]] = OrderedDict()
PLANS_KEPT = 4
_PLANS_LOCK = threading.Lock()  # the API asks from several threads


def _planned(
    engine: Engine, versions: list[_Version], days: Days, scope: set[str] | None
) -> dict[Device, list[Planned]]:
    key = (
        engine.url.render_as_string(hide_password=True),
        tuple((v.since, v.digest) for v in versions),
        days.start, days.end, None if scope is None else frozenset(scope),
    )  # fmt: skip
    if any(v.digest is None for v in versions):
        return planned_intervals([(v.since, v.planner) for v in versions], days.start,
                                 days.end, scope)  # fmt: skip
    with _PLANS_LOCK:
        found = _PLANS.get(key)
        if found is not None:
            _PLANS.move_to_end(key)
            return found
    found = planned_intervals([(v.since, v.planner) for v in versions], days.start, days.end, scope)
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


def _causes(
    session: Session,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    accounts: dict[str, str],
    scope: set[str] | None,
) -> dict[tuple[str, str], list[Cause]]:
    """What explains differences, per (agent, device): holds, pauses, failed and blocked
    switches in ``[start, end)``."""

    def hm(at: datetime) -> str:
        local = at.astimezone(zone)
        return (
            f"{local:%H:%M}"
            if local.date() == start.astimezone(zone).date()
            else (f"{local:%m-%d %H:%M}")
        )

    out: dict[tuple[str, str], list[Cause]] = {}
    holds = select(Hold).where(Hold.starts_at < end, Hold.until > start)
    if scope is not None:
        holds = holds.where(Hold.agent.in_(scope))
    for h in session.scalars(holds):
        state = "ON" if h.available else "OFF"
        text = f"held {state} by {h.created_by} {hm(h.starts_at)} to {hm(h.until)}" + (
            f" ({h.reason})" if h.reason else ""
        )
        out.setdefault((h.agent, h.device), []).append(Cause(h.starts_at, h.until, text))
    actions = select(
        Action.agent, Action.device, Action.status, Action.due_at, Action.finished_at,
        Action.reason, Action.error_code, Action.error_description, Action.last_http_code,
        Action.wants_on,
    ).where(
        Action.due_at >= start, Action.due_at < end, Action.kind == ActionKind.SWITCH,
        Action.status.in_((Status.FAILED, Status.BLOCKED)), Action.agent.is_not(None),
    )  # fmt: skip
    if scope is not None:
        actions = actions.where(Action.agent.in_(scope))
    for (
        agent,
        device,
        status,
        due,
        finished,
        reason,
        code,
        description,
        http,
        wants_on,
    ) in session.execute(actions):
        verb = "ON" if wants_on else "OFF"
        why = reason or _exotel(code, description, http) or status
        text = f"{verb} {status} at {hm(due)}: {why}"
        out.setdefault((str(agent), str(device)), []).append(Cause(due, finished or due, text))
    pauses = select(Pause).where(
        Pause.paused_at < end, or_(Pause.resumed_at.is_(None), Pause.resumed_at > start)
    )
    paused = list(session.scalars(pauses))
    if paused:
        devices = {key for key in out} | _devices_of(session, scope)
        for p in paused:
            until = p.resumed_at or end
            text = f"paused by {p.paused_by} {hm(p.paused_at)} to " + (
                hm(p.resumed_at) if p.resumed_at else "now"
            )
            for agent, device in devices:
                if p.account is None or accounts.get(agent) == p.account:
                    out.setdefault((agent, device), []).append(Cause(p.paused_at, until, text))
    return out


def _devices_of(session: Session, scope: set[str] | None) -> set[tuple[str, str]]:
    table = timeline.TABLE
    query = select(table.c.agent, table.c.device).distinct().where(table.c.agent.is_not(None))
    if scope is not None:
        query = query.where(table.c.agent.in_(scope))
    return {(a, d) for a, d in session.execute(query)}


def _exotel(code: str | None, description: str | None, http: int | None) -> str | None:
    if not (code or description):
        return None
    said = " ".join(x for x in (code, description) if x)
    return f"Exotel {said}" + (f" (HTTP {http})" if http else "")


def _add(
    rows: dict[tuple[Any, ...], dict[str, Any]],
    key: tuple[str, str],
    account: str | None,
    piece: Piece,
    by: str,
    zone: ZoneInfo,
) -> None:
    if by == "day":
        group: tuple[Any, ...] = (*key, piece.day)
    elif by == "shift":
        group = (*key, piece.shift or "")
    else:
        group = key
    row = rows.get(group)
    if row is None:
        extra: dict[str, Any] = {}
        if by == "day":
            extra = {"day": piece.day.isoformat()}
        elif by == "shift":
            extra = {"shift": piece.shift}
        row = rows[group] = {
            "agent": key[0], "device": key[1], "account": account, **extra, "zone": zone.key,
            "planned_s": 0.0, "confirmed_s": 0.0, "late_starts": 0, "late_start_s": 0.0,
            "early_off_s": 0.0, "unplanned_on_s": 0.0, "unknown_s": 0.0, "reasons": [],
        }  # fmt: skip
    row["planned_s"] += piece.planned_s
    row["confirmed_s"] += piece.confirmed_s
    row["late_start_s"] += piece.late_start_s
    row["late_starts"] += piece.late_starts
    row["early_off_s"] += piece.early_off_s
    row["unplanned_on_s"] += piece.unplanned_on_s
    row["unknown_s"] += piece.unknown_s
    if piece.reasons:
        reasons = row["reasons"]
        reasons.extend(r for r in piece.reasons if r not in reasons)


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("planned_s", "confirmed_s", "late_start_s", "early_off_s", "unplanned_on_s",
                 "unknown_s"):  # fmt: skip
        row[name] = round(row[name])
    planned = row["planned_s"]
    row["adherence"] = round(row["confirmed_s"] / planned, 4) if planned else None
    reasons = row["reasons"]
    if len(reasons) > MAX_REASONS:
        row["reasons"] = [*reasons[:MAX_REASONS], f"and {len(reasons) - MAX_REASONS} more"]
    return row
