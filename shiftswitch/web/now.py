"""The Now page's view-model: who is ON (confirmed by Exotel) and on which device, who should be
ON and is not (and why), who is ON and should not be, the next changes, the actions under way.

The plan comes from a :class:`~shiftswitch.planning.plancache.Plan`; what happened from the results
tables, in a few bounded reads whatever the number of agents; :func:`why_not` is pure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from shiftswitch import queries
from shiftswitch.advice import Advice, advise
from shiftswitch.boundaries import Boundary
from shiftswitch.holds import ahead_with_holds
from shiftswitch.models import (
    OPEN_STATUSES,
    Action,
    ExotelOutage,
    Hold,
    Pause,
    Status,
)
from shiftswitch.operations.boundaries import boundaries
from shiftswitch.planning.plancache import Plan
from shiftswitch.planning.transitions import Transition
from shiftswitch.queries import (
    RECENT,
    holds_in_force,
    last_full_check,
    open_counts,
    open_outages,
    pauses_in_force,
    under_way,
    who_is_on,
)
from shiftswitch.roster.model import Roster

PAGE = 100
LOOKED_AT = 5000  # the latest open or failed actions read to explain a device not ON


@dataclass(frozen=True, slots=True)
class Latest:
    """A device's latest open or failed switch, as far as it explains its state."""

    id: int
    status: str
    wants_on: bool
    reason: str | None
    http_code: int | None


@dataclass(frozen=True, slots=True)
class Row:
    """One agent on the page: its device, since when, and (not as planned) why."""

    agent: str
    account: str
    device: str
    since: datetime | None = None
    why: str = ""
    detail: str = ""
    action_id: int | None = None
    advice: Advice | None = None  # a refusal of Exotel's in plain words, and what to do


@dataclass(slots=True)
class NowView:
    at: datetime
    on: list[Row]
    on_total: int
    missing: list[Row]
    missing_total: int
    kept_off: list[Row]  # held OFF or paused: off on purpose, not a failure
    unexpected: list[Row]
    next: list[Transition]
    recorded: list[Boundary]  # boundaries of the last two hours, running first
    coming: list[Boundary]  # the next instants' boundaries
    open_counts: dict[str, int]
    open_actions: list[Action]
    paused: list[Pause]
    down: list[ExotelOutage]
    holds: list[Hold]
    agents: int
    devices: int
    page: int = 1
    pages: int = 1
    reasons: dict[str, int] = field(default_factory=dict)


ON_PURPOSE = ("held", "paused")  # reasons a device is OFF because someone said so


def why_not(
    device: str,
    account: str,
    *,
    paused: set[str | None],
    down: Collection[str] = frozenset(),
    holds: Iterable[Hold],
    latest: Latest | None,
    drifted: Mapping[str, object] | None,
) -> tuple[str, str, int | None]:
    """Why a device the plan wants ON is not confirmed ON: (reason, detail, action id)."""
    if None in paused or account in paused:
        return "paused", f"sending is paused for {account if account in paused else 'all'}", None
    if account in down:
        return "exotel down", f"Exotel is down for {account}: sent on its return", None
    for h in holds:
        if (h.device == device and not h.available) or (h.available and h.device != device):
            state = "ON" if h.available else "OFF"
            why = f": {h.reason}" if h.reason else ""
            return "held", f"{h.device} held {state} by {h.created_by}{why}", h.action_id
    if latest is not None and latest.status in OPEN_STATUSES:
        return "under way", f"action {latest.id} {latest.status}", latest.id
    if latest is not None and latest.status in (Status.FAILED, Status.BLOCKED):
        http = f" (HTTP {latest.http_code})" if latest.http_code else ""
        return str(latest.status), f"{latest.reason or ''}{http}".strip(), latest.id
    if drifted is not None:
        return "drifted", f"Exotel said {'ON' if drifted.get('found') else 'OFF'}", None
    return "not confirmed", "no switch confirmed yet", None


def build(
    engine: Engine,
    roster: Roster,
    plan: Plan,
    now: datetime,
    *,
    search: str = "",
    account: str = "",
    reason: str = "",
    page: int = 1,
    upcoming: int = 15,
) -> NowView:
    """The Now page at ``now``; rows filtered by ``search`` (part of an agent's name) and paged."""
    desired = plan.desired_all(now)
    done, coming = boundaries(engine, plan.following(now), now)
    with engine.connect() as conn:
        states = who_is_on(conn)  # the shown rows' instants are read below
        latest = _latest(conn, now)
        counts = open_counts(conn)
    with Session(engine) as session:
        open_actions = under_way(session, 30)
        paused = pauses_in_force(session)
        last_check = last_full_check(session)
        down = open_outages(session)
        holds = holds_in_force(session, now)
    drifted = {
        (str(f.get("agent")), str(f.get("device"))): f
        for f in (last_check.findings if last_check is not None else [])
        if isinstance(f, dict)
    }
    holds_of: dict[str, list[Hold]] = {}
    for h in holds:
        holds_of.setdefault(h.agent, []).append(h)
    paused_accounts = {p.account for p in paused}

    on_rows: list[Row] = []
    confirmed_on: dict[str, set[str]] = {}
    for agent, device in states:
        if agent is not None and agent in roster.agents and device is not None:
            confirmed_on.setdefault(agent, set()).add(device)
            on_rows.append(Row(agent, roster.agents[agent].account, device))
    unexpected = [row for row in on_rows if desired.get(row.agent) != row.device]
    missing, kept_off, reasons = _not_on(
        roster, desired, confirmed_on, latest, holds_of, paused_accounts,
        {o.account for o in down}, drifted,
    )  # fmt: skip

    shown = _Filter(search.strip().lower(), account)
    on_rows, kept_off, unexpected = shown(on_rows), shown(kept_off), shown(unexpected)
    missing = [r for r in shown(missing) if not reason or r.why == reason]
    by_name = attrgetter("account", "agent")
    on_rows.sort(key=by_name)
    missing.sort(key=by_name)
    kept_off.sort(key=by_name)
    missing = [r for r in missing if r.why == "failed"] + [r for r in missing if r.why != "failed"]
    pages = max(1, -(-max(len(on_rows), len(missing)) // PAGE))
    page = min(max(1, page), pages)
    cut = slice((page - 1) * PAGE, page * PAGE)
    shown_on, shown_unexpected = _since(engine, on_rows[cut]), _since(engine, unexpected[:PAGE])
    return NowView(
        at=now,
        on=shown_on,
        on_total=len(on_rows),
        missing=missing[cut],
        missing_total=len(missing),
        kept_off=kept_off[:PAGE],
        unexpected=shown_unexpected,
        next=_next(plan, roster, holds, now, upcoming),
        recorded=done,
        coming=coming,
        open_counts=counts,
        open_actions=open_actions,
        paused=paused,
        down=down,
        holds=holds,
        agents=len(roster.agents),
        devices=sum(len(a.devices) for a in roster.agents.values()),
        page=page,
        pages=pages,
        reasons=reasons,
    )


def _not_on(
    roster: Roster,
    desired: Mapping[str, str | None],
    confirmed_on: Mapping[str, set[str]],
    latest: Mapping[tuple[str, str], Latest],
    holds_of: Mapping[str, list[Hold]],
    paused_accounts: set[str | None],
    down_accounts: set[str],
    drifted: Mapping[tuple[str, str], Mapping[str, object]],
) -> tuple[list[Row], list[Row], dict[str, int]]:
    """The devices the plan wants ON that are not confirmed ON: those missing (with the count
    of each reason) and those kept OFF on purpose (held, paused)."""
    missing: list[Row] = []
    kept_off: list[Row] = []
    reasons: dict[str, int] = {}
    for agent, device in desired.items():
        if device is None or device in confirmed_on.get(agent, ()):
            continue
        account = roster.agents[agent].account
        why, detail, action_id = why_not(
            device,
            account,
            paused=paused_accounts,
            down=down_accounts,
            holds=holds_of.get(agent, ()),
            latest=latest.get((agent, device)),
            drifted=drifted.get((agent, device)),
        )
        known = latest.get((agent, device))
        told = (
            advise(known.http_code, known.reason)
            if why in ("failed", "blocked") and known is not None
            else None
        )
        row = Row(agent, account, device, why=why, detail=detail, action_id=action_id, advice=told)
        if why in ON_PURPOSE:
            kept_off.append(row)
        else:
            reasons[why] = reasons.get(why, 0) + 1
            missing.append(row)

    return missing, kept_off, reasons


@dataclass(frozen=True, slots=True)
class _Filter:
    """The rows of agents whose name contains ``needle``, of ``account`` (empty: any)."""

    needle: str
    account: str

    def __call__(self, rows: list[Row]) -> list[Row]:
        return [
            r
            for r in rows
            if (not self.needle or self.needle in r.agent.lower())
            and (not self.account or r.account == self.account)
        ]


def _next(
    plan: Plan, roster: Roster, holds: list[Hold], now: datetime, upcoming: int
) -> list[Transition]:
    """The next changes as they will happen: holds keep some from happening, and their ends
    bring the roster's back (within the plan's window)."""
    ahead = plan.after(now, upcoming + 2 * len(holds))
    found = ahead_with_holds(ahead, holds, roster, plan.desired, now, ends_before=plan.end)
    return found[:upcoming]


def _since(engine: Engine, rows: list[Row]) -> list[Row]:
    """``rows`` with the instant Exotel confirmed each ON."""
    if not rows:
        return rows
    with engine.connect() as conn:
        found = {
            (agent, device): (at, action_id)
            for agent, device, at, action_id in queries.confirmed_of(conn, {r.agent for r in rows})
        }
    return [
        replace(
            r,
            since=found.get((r.agent, r.device), (None, None))[0],
            action_id=found.get((r.agent, r.device), (None, None))[1],
        )
        for r in rows
    ]


def _latest(conn: Connection, now: datetime) -> dict[tuple[str, str], Latest]:
    """Each device's latest open switch, else its latest failed or blocked one of the last day."""
    under_way = queries.latest_open_switches(conn, LOOKED_AT)
    failed = queries.latest_unsuccessful_switches(conn, now - RECENT, LOOKED_AT)
    out: dict[tuple[str, str], Latest] = {}
    for id_, agent, device, status, wants_on, reason, http in (*under_way, *failed):
        if agent is not None and device is not None:
            out.setdefault((agent, device), Latest(id_, status, wants_on, reason, http))
    return out
