"""Reports: adherence per day as a chart, the agents with the most planned time not confirmed
ON, and the same report to download (README: Reports)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from shiftswitch.adherence import files
from shiftswitch.adherence.query import BY, BadQuery, day_of
from shiftswitch.adherence.query import Query as Asked
from shiftswitch.adherence.report import Overview, adherence, overview
from shiftswitch.roster.model import Roster
from shiftswitch.web.render import page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Svc, Who

router = APIRouter()
Text = Annotated[str, Query(max_length=200)]


def _asked(
    roster: Roster, now: datetime, first: str, last: str, agent: str, account: str, by: str
) -> Asked:
    today = now.astimezone(roster.zone).date()
    end = day_of(last, "to") if last else today
    start = day_of(first, "from") if first else end - timedelta(days=6)
    return Asked(start, end, agent or None, account or None, by).check()


@router.get("/reports", response_class=HTMLResponse)
async def reports(
    request: Request, svc: Svc, who: Who, first: Annotated[str, Query(alias="from",
    max_length=20)] = "", last: Annotated[str, Query(alias="to", max_length=20)] = "",
    agent: Text = "", account: Text = "", by: Text = "day",
) -> HTMLResponse:  # fmt: skip
    roster, notice = roster_or_notice(svc)
    now = svc.now()
    found: Overview | None = None
    refusal = ""
    if roster is not None:
        try:
            asked = _asked(roster, now, first, last, agent, account, by if by in BY else "day")
            found = await run_in_threadpool(overview, svc.ops.engine, asked, roster, now)
        except BadQuery as exc:
            refusal = f"{exc.place}: {exc}"
    shown: dict[str, Any] = {"from": first, "to": last, "agent": agent, "account": account}
    shown["by"] = by
    if found is not None:
        shown.update({"from": found.first.isoformat(), "to": found.last.isoformat()})
    query = urlencode({k: v for k, v in shown.items() if v})
    return page(
        request, "reports.html", who, now=now, zone=roster.zone if roster else None,
        report=found, chart=_chart(found.days) if found else [],
        worst=found.worst if found else [], totals=found.totals if found else {},
        shown=shown, query=query, by_choices=BY, refusal=refusal, notice=notice,
        active="reports",
    )  # fmt: skip


@router.get("/reports/adherence.{fmt}")
async def download(
    svc: Svc, _who: Who, fmt: str, first: Annotated[str, Query(alias="from", max_length=20)] = "",
    last: Annotated[str, Query(alias="to", max_length=20)] = "", agent: Text = "",
    account: Text = "", by: Text = "day",
) -> Response:  # fmt: skip
    if fmt not in files.MEDIA:
        return PlainTextResponse("give .csv, .json or .xlsx", status_code=404)
    roster, notice = roster_or_notice(svc)
    if roster is None:
        return PlainTextResponse(notice, status_code=409)
    try:
        asked = _asked(roster, svc.now(), first, last, agent, account, by)
        found = await run_in_threadpool(adherence, svc.ops.engine, asked, roster, svc.now())
    except BadQuery as exc:
        return PlainTextResponse(f"{exc.place}: {exc}", status_code=400)
    name = f"adherence-{asked.first}-{asked.last}.{fmt}"
    return Response(
        files.render(found, fmt), media_type=files.MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


WIDTH, HEIGHT, PAD = 640, 180, 28


def _chart(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One bar per day: x, width, height and y in the SVG's units, and its labels."""
    if not days:
        return []
    step = (WIDTH - PAD) / len(days)
    bars = []
    for i, d in enumerate(days):
        ratio = d["adherence"]
        height = (HEIGHT - PAD) * (ratio or 0)
        bars.append({
            "x": PAD + i * step + step * 0.15, "width": step * 0.7, "height": height,
            "y": HEIGHT - PAD - height, "label": date.fromisoformat(d["day"]).strftime("%a %d"),
            "center": PAD + i * step + step / 2,
            "value": "-" if ratio is None else f"{ratio * 100:.1f}%", "low": (ratio or 0) < 0.9,
        })  # fmt: skip
    return bars
