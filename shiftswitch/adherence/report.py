"""``report adherence`` (README: Reports): was each agent's device confirmed ON when planned?

Gathers what the figures need (the roster versions in force, the devices' timeline, holds,
pauses, failed and blocked switches) for a period of local days, and sums the figures of
:mod:`~shiftswitch.adherence.figures` by day, shift or agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shiftswitch import heap, timeline
from shiftswitch.adherence.causes import explaining
from shiftswitch.adherence.figures import Days, Piece, figures
from shiftswitch.adherence.planned import LOOKAHEAD, LOOKBACK
from shiftswitch.adherence.query import BadQuery, Query
from shiftswitch.adherence.versions import Version, in_force, planned_of
from shiftswitch.roster.model import Roster

NOTE = "a shift counts on the local day it starts"
MAX_REASONS = 8  # reasons listed on one row, the rest counted


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
        versions = in_force(session, days.start - LOOKBACK, days.end + LOOKAHEAD, roster)
        accounts = {name: a.account for name, a in roster.agents.items()}
        scope = _scope(query, accounts, versions)
        planned = planned_of(engine, versions, days.start, days.end, scope)
        for v in versions:  # agents of the period no longer in the roster
            for name, member in v.roster.agents.items():
                accounts.setdefault(name, member.account)
        ends = [p[-1].end for p in planned.values() if p]
        reach = datetime.fromtimestamp(max(ends), UTC) if ends else end
        upto = max(min(reach, now), end)
        on: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
        unknown: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
        for agent, device, state, started, ended, _action in timeline.spans(
            session, days.start, upto, agents=scope
        ):
            into = on if state == timeline.ON else unknown
            into.setdefault((agent, device), []).append((started, ended))
        causes = explaining(
            session, days.start, upto, zone, accounts, set(planned) | set(on), scope
        )

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


def _scope(query: Query, accounts: dict[str, str], versions: list[Version]) -> set[str] | None:
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
