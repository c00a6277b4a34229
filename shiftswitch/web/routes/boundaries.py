"""One boundary opened: its switches grouped by outcome, and the failed and blocked ones by
why, in plain words (README: Boundaries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from shiftswitch.advice import advise
from shiftswitch.boundaries import recorded
from shiftswitch.boundary_queries import boundary_actions
from shiftswitch.models import Action, Status
from shiftswitch.web.render import page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Svc, Who

router = APIRouter()
ORDER = (Status.FAILED, Status.BLOCKED, Status.RUNNING, Status.QUEUED, Status.PENDING,
         Status.SUCCEEDED, Status.SUPERSEDED)  # fmt: skip


@router.get("/boundaries/{at}", response_class=HTMLResponse)
async def boundary_page(
    request: Request, svc: Svc, who: Who, at: str,
    account: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:  # fmt: skip
    roster, notice = roster_or_notice(svc)
    now = svc.now()
    zone = roster.zone if roster else None
    try:
        instant = datetime.fromisoformat(at)
        instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    except ValueError:
        return page(request, "boundary.html", who, now=now, zone=zone, boundary=None,
                    groups=[], refusal=f"{at!r} is not an instant", status=400)  # fmt: skip

    def read() -> list[Action]:
        with Session(svc.ops.engine) as session:
            return boundary_actions(session, instant, account)

    actions = await run_in_threadpool(read)
    counts: dict[tuple[bool, str], int] = {}
    for a in actions:
        counts[(a.wants_on, a.status)] = counts.get((a.wants_on, a.status), 0) + 1
    found = recorded([(instant, account, on, status, n) for (on, status), n in counts.items()])
    return page(
        request, "boundary.html", who, now=now, zone=zone, notice=notice,
        boundary=found[0] if found else None, account=account, instant=instant,
        groups=_groups(actions), active="now",
    )  # fmt: skip


def _groups(actions: list[Action]) -> list[dict[str, Any]]:
    """(status, then why for the unsuccessful ones) → the switches, failures first."""
    by: dict[tuple[str, str], list[Action]] = {}
    for a in actions:
        why = ""
        if a.status in (Status.FAILED, Status.BLOCKED):
            told = advise(a.last_http_code, a.error_description or a.reason)
            why = told.words if told else (a.reason or "")
        by.setdefault((a.status, why), []).append(a)
    rank: dict[str, int] = {str(s): i for i, s in enumerate(ORDER)}
    ordered = sorted(by.items(), key=lambda kv: (rank.get(kv[0][0], 99), kv[0][1]))
    return [
        {"status": status, "why": why, "actions": found, "next": _next_step(found[0])}
        for (status, why), found in ordered
    ]


def _next_step(a: Action) -> str:
    if a.status not in (Status.FAILED, Status.BLOCKED):
        return ""
    told = advise(a.last_http_code, a.error_description or a.reason)
    return told.next if told else ""
