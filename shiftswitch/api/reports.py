"""Reports (role viewer): ``GET /reports/adherence``, as ``shiftswitch report adherence``
(README: Reports) in JSON (the default), CSV or XLSX."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from shiftswitch.adherence import files
from shiftswitch.adherence.query import BadQuery, day_of
from shiftswitch.adherence.query import Query as Asked
from shiftswitch.adherence.report import adherence
from shiftswitch.api.deps import FastJSON, Services, services, viewer
from shiftswitch.problems import invalid

router = APIRouter(tags=["reports"], dependencies=[viewer])
Svc = Annotated[Services, Depends(services)]


@router.get("/reports/adherence", response_model=None)
def adherence_report(
    svc: Svc,
    first: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
    by: Literal["day", "shift", "agent"] = "agent",
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """For each agent and device, planned ON time against confirmed ON time over the roster's
    local days ``from`` to ``to`` (default: the last 7): ``shiftswitch report adherence``."""
    now = svc.now()
    roster = svc.roster.get(now)
    try:
        end = day_of(last, "to") if last else now.astimezone(roster.zone).date()
        start = day_of(first, "from") if first else end - timedelta(days=6)
        found = adherence(svc.ops.engine, Asked(start, end, agent, account, by), roster, now)
    except BadQuery as exc:
        raise invalid(str(exc), exc.place) from None
    if format == "json":
        return FastJSON(found.rows)
    name = f"adherence-{start}-{end}.{format}"
    return Response(
        files.render(found, format),
        media_type=files.MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
