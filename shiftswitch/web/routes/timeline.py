"""The timeline: a day or a week per agent, the plan above what Exotel confirmed."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shiftswitch.web.lanes import Selection, lanes
from shiftswitch.web.render import page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Svc, Who
from shiftswitch.web.timeline import Window

router = APIRouter()

SPANS = {"day": 1, "week": 7}
AROUND_NOW = "now"  # a span of a few hours around now (Window.around), for phones


@router.get("/timeline", response_class=HTMLResponse)
def timeline_page(
    request: Request,
    svc: Svc,
    who: Who,
    day: str = Query("", max_length=10),
    span: str = Query("day", pattern="^(day|week|now)$"),
    account: str = Query("", max_length=100),
    shift: str = Query("", max_length=200),
    q: str = Query("", max_length=100),
    page_number: int = Query(1, alias="page", ge=1, le=100_000),
) -> HTMLResponse:
    now = svc.now()
    roster, notice = roster_or_notice(svc)
    if roster is None:
        return page(request, "timeline.html", who, now=now, notice=notice, rows=None)
    today = now.astimezone(roster.zone).date()
    refusal = ""
    try:
        first = date.fromisoformat(day) if day else today
    except ValueError:
        first, refusal = today, f"day: {day!r} is not a date; write e.g. {today.isoformat()}"
    if span == AROUND_NOW:
        first, days = today, 1  # earlier and later go to the days around it
        window = Window.around(now, roster.zone)
    else:
        days = SPANS[span]
        if span == "week":
            first -= timedelta(days=first.weekday())  # weeks from Monday
        window = Window.days(first, days, roster.zone)
    selection = Selection(account, shift, q, page_number)
    agents, matching, pages = selection.agents(roster)
    plan = svc.roster.plans.plan(roster, window.start, window.end)
    rows = lanes(svc.ops.engine, roster, plan, window, agents, now)
    step = timedelta(days=days)
    paging = "day" if span == AROUND_NOW else span
    return page(
        request,
        "timeline.html",
        who,
        now=now,
        zone=roster.zone,
        notice="",
        refusal=refusal,
        rows=rows,
        window=window,
        ticks=window.ticks(1 if days == 1 else 6),
        now_left=window.share(now) if window.covers(now) else None,
        first=first,
        span=span,
        paging=paging,
        previous=(first - step).isoformat(),
        following=(first + step).isoformat(),
        selection=selection,
        matching=matching,
        pages=pages,
        page_number=min(page_number, pages),
        accounts=sorted(roster.accounts),
        shifts=[s.name for s in roster.shifts],
        active="timeline",
    )
