"""An agent's page: devices and their confirmed state, shifts, overrides, holds, recent actions
and their attempts; ON/OFF now and holds for operators."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from shiftswitch.operations import Refused
from shiftswitch.operations.agents import AHEAD, agent_page
from shiftswitch.operations.devices import paused_message, switch
from shiftswitch.web.lanes import lanes
from shiftswitch.web.render import done, page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Signed, Svc, Who, operator
from shiftswitch.web.timeline import Window

router = APIRouter()


def _agent(
    request: Request, svc: Svc, who: Signed, agent: str, refusal: str = "", status: int = 200
) -> HTMLResponse:
    now = svc.now()
    roster, notice = roster_or_notice(svc)
    if roster is None:
        return page(request, "agent.html", who, now=now, notice=notice, info=None)
    try:
        plan = svc.roster.plans.around(roster, now)
        info = agent_page(
            svc.ops.action_store(), roster, agent, now,
            ahead=plan.between(now, now + AHEAD, agent), desired=plan.desired,
        )  # fmt: skip
    except Refused as exc:
        return page(
            request, "agent.html", who, now=now, zone=roster.zone, notice=str(exc), info=None,
            status=exc.status,
        )  # fmt: skip
    window = Window.days(now.astimezone(roster.zone).date(), 1, roster.zone)
    plan = svc.roster.plans.plan(roster, window.start, window.end)
    (lane,) = lanes(svc.ops.engine, roster, plan, window, [agent], now)
    return page(
        request,
        "agent.html",
        who,
        now=now,
        zone=roster.zone,
        notice="",
        info=info,
        lane=lane,
        window=window,
        ticks=window.ticks(3),
        now_left=window.share(now) if window.covers(now) else None,
        refusal=refusal,
        status=status,
        active="timeline",
    )


@router.get("/agents/{agent}", response_class=HTMLResponse)
def agent_view(request: Request, svc: Svc, who: Who, agent: str) -> HTMLResponse:
    return _agent(request, svc, who, agent)


@router.post("/agents/{agent}/devices/{device}/switch")
def switch_device(
    request: Request,
    svc: Svc,
    who: Annotated[Signed, operator],
    agent: str,
    device: str,
    state: Annotated[str, Form(pattern="^(on|off)$")],
    until: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """ON or OFF now (source manual), held until ``until`` when it is given."""
    roster, notice = roster_or_notice(svc)
    if roster is None:
        return _agent(request, svc, who, agent, notice, HTTPStatus.CONFLICT)
    try:
        submitted = switch(
            svc.ops,
            roster,
            state == "on",
            by=who.principal.by,
            agent=agent,
            device=device,
            until=until.strip() or None,
            reason=reason,
        )
    except Refused as exc:
        return _agent(request, svc, who, agent, str(exc), exc.status)
    said = (
        paused_message(submitted)
        if not submitted.sent
        else f"action {submitted.action.id} sent: {submitted.what}"
    )
    return done(f"/agents/{agent}", said)
