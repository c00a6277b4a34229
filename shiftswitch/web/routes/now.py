"""The Now page: who is ON, who should be and is not (and why), what comes next."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shiftswitch.web import now as now_view
from shiftswitch.web.render import page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Svc, Who

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def now_page(
    request: Request,
    svc: Svc,
    who: Who,
    q: str = Query("", max_length=100),
    account: str = Query("", max_length=200),
    reason: str = Query("", max_length=40),
    page_number: int = Query(1, alias="page", ge=1, le=100_000),
) -> HTMLResponse:
    now = svc.now()
    roster, notice = roster_or_notice(svc)
    if roster is None:
        return page(request, "now.html", who, now=now, view=None, notice=notice, q=q)
    plan = svc.roster.plans.around(roster, now)
    view = now_view.build(
        svc.ops.engine, roster, plan, now, search=q, account=account, reason=reason,
        page=page_number,
    )  # fmt: skip
    return page(
        request, "now.html", who, now=now, zone=roster.zone, view=view, notice="", q=q,
        account=account, reason=reason, accounts=sorted(roster.accounts), active="now",
    )  # fmt: skip
