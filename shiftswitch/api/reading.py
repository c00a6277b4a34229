"""What the API shows (role viewer): status, history, the plan ahead, one agent, health.
The JSON is the command line's ``--json``."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from shiftswitch import health
from shiftswitch.api.deps import FastJSON, Services, services, viewer
from shiftswitch.models import Source, Status
from shiftswitch.operations import agents, boundaries, plans
from shiftswitch.planning.planner import Planner
from shiftswitch.problems import invalid
from shiftswitch.queries import newest_actions
from shiftswitch.reports import action_row
from shiftswitch.reports import status as report_status
from shiftswitch.roster.model import parse_instant

router = APIRouter(tags=["status"], dependencies=[viewer])
Svc = Annotated[Services, Depends(services)]


@router.get("/status")
def status(
    svc: Svc,
    summary: bool = False,
    limit: Annotated[int | None, Query(ge=1, le=10000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> FastJSON:
    """Who is ON now, what is next, what is under way, recent failures, pauses, holds, drift:
    ``shiftswitch status --json``. ``summary=1``: the devices ON counted (``on_count``,
    ``on_by_account``), not listed; ``limit``/``offset``: a page of them listed."""
    now = svc.now()
    roster = svc.roster.get(now)
    report = report_status(
        svc.ops.action_store(),
        roster,
        now,
        ahead=svc.roster.upcoming(now),
        summary=summary,
        on_page=None if limit is None else (limit, offset),
    )
    return FastJSON(report)


@router.get("/boundaries")
def boundaries_now(svc: Svc) -> FastJSON:
    """The boundaries running, recorded in the last two hours and next, counted per account:
    a few rows whatever the number of agents (README: Boundaries)."""
    now = svc.now()
    upcoming = svc.roster.upcoming(now)
    return FastJSON(boundaries.as_json(svc.ops.engine, upcoming, now))


@router.get("/history")
def history(
    svc: Svc,
    agent: str | None = None,
    device: str | None = None,
    status: Status | None = None,
    source: Source | None = None,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """The latest actions, newest first: ``shiftswitch history --json``, filtered by agent,
    device, status, source and due time [from, to), paged with limit and offset."""
    now = svc.now()
    zone = svc.roster.get(now).zone
    with svc.ops.action_store().sessions() as session:
        actions = newest_actions(
            session,
            limit,
            agent=agent,
            device=device,
            status=status,
            source=source,
            since=_instant(since, zone, "from"),
            until=_instant(until, zone, "to"),
            offset=offset,
        )
    return [action_row(a) for a in actions]


@router.get("/plan")
def plan(
    svc: Svc,
    start: Annotated[str | None, Query(alias="from")] = None,
    hours: float = 24.0,
) -> list[dict[str, object]]:
    """The transitions ahead in order: ``shiftswitch plan --json``."""
    now = svc.now()
    roster = svc.roster.get(now)
    begin, end = plans.window(start, hours, roster, now)
    return [t.as_json() for t in Planner(roster).transitions(begin, end)]


@router.get("/agents/{agent}")
def agent(svc: Svc, agent: str) -> dict[str, Any]:
    """One agent: devices and their confirmed state, shifts, overrides, holds, the switches
    ahead and recent actions with their attempts."""
    now = svc.now()
    roster = svc.roster.get(now)
    plan = svc.roster.plans.around(roster, now)
    return agents.agent_page(
        svc.ops.action_store(), roster, agent, now,
        ahead=plan.between(now, now + agents.AHEAD, agent), desired=plan.desired,
    )  # fmt: skip


@router.get("/health")
def check(svc: Svc) -> JSONResponse:
    """``shiftswitch check --json``: database, Redis, roster, workers; 503 when one fails."""
    results = health.run(svc.ops.settings, health.DEFAULT_CHECKS, svc.now())
    ok = all(r.ok for r in results)
    return JSONResponse([dataclasses.asdict(r) for r in results], status_code=200 if ok else 503)


def _instant(text: str | None, zone: Any, place: str) -> datetime | None:
    if text is None:
        return None
    found = parse_instant(text, zone)
    if found is None:
        raise invalid(
            f"{text!r} is not a date or date-time; write e.g. 2026-12-01T09:00 or 2026-12-01",
            place=place,
        )
    return found
