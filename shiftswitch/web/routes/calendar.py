"""``GET /calendar/{agent}.ics?key=K``: an agent's own calendar feed (README: Calendar feeds),
opened by the agent's calendar key (``shiftswitch calendar key AGENT``), not by a login: the
address is what a calendar app subscribes to."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from shiftswitch.feeds import agent_calendar
from shiftswitch.problems import Refused
from shiftswitch.web.session import Svc

router = APIRouter()
NOT_HERE = "no calendar at this address: ask for a new link ('shiftswitch calendar key AGENT')"


@router.get("/calendar/{agent}.ics")
async def calendar(
    svc: Svc, agent: str, key: Annotated[str, Query(max_length=128)] = ""
) -> Response:
    """The agent's next 28 days as iCalendar; 404 for an unknown agent or a wrong key alike."""
    if len(agent) > 64 or not await run_in_threadpool(svc.access.check_calendar_key, agent, key):
        raise Refused(NOT_HERE, status=HTTPStatus.NOT_FOUND)
    now = svc.now()
    roster = await run_in_threadpool(svc.roster.get, now)  # may read it anew: not on the loop
    if agent not in roster.agents:
        raise Refused(NOT_HERE, status=HTTPStatus.NOT_FOUND)
    body = await run_in_threadpool(agent_calendar, roster, agent, now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{agent}.ics"'},
    )
