"""Overrides: the list, one added (with the roster's validation and the command line's one-line
refusals) or removed; operators change them."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from shiftswitch.operations import Refused
from shiftswitch.operations import overrides as ops_overrides
from shiftswitch.sources.store import NoRoster
from shiftswitch.web.render import done, page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Signed, Svc, Who, operator

router = APIRouter()


def _overrides_page(
    request: Request,
    svc: Svc,
    who: Signed,
    *,
    show_all: bool = False,
    refusal: str = "",
    status: int = HTTPStatus.OK,
    entered: dict[str, str] | None = None,
) -> HTMLResponse:
    roster, notice = roster_or_notice(svc)
    listed = ops_overrides.listing(svc.ops, show_all=show_all)
    return page(
        request,
        "overrides.html",
        who,
        now=svc.now(),
        zone=roster.zone if roster else None,
        roster=roster,
        notice=notice,
        listed=listed,
        show_all=show_all,
        refusal=refusal,
        status=status,
        entered=entered or {},
        active="overrides",
    )


@router.get("/overrides", response_class=HTMLResponse)
def overrides_view(request: Request, svc: Svc, who: Who, all: bool = False) -> HTMLResponse:
    return _overrides_page(request, svc, who, show_all=all)


@router.post("/overrides", response_class=HTMLResponse)
def add_override(
    request: Request,
    svc: Svc,
    who: Annotated[Signed, operator],
    agent: Annotated[str, Form(max_length=200)],
    start: Annotated[str, Form(max_length=40)],
    end: Annotated[str, Form(max_length=40)],
    device: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """``override add AGENT --device D | --off --from T --to T [--reason TEXT]``; ``device``
    empty: every device OFF."""
    entered = {"agent": agent, "device": device, "start": start, "end": end, "reason": reason}
    try:
        edited = ops_overrides.add(
            svc.ops,
            agent.strip(),
            device=device.strip() or None,
            off=not device.strip(),
            start=start,
            end=end,
            by=who.principal.by,
            reason=reason,
        )
    except Refused as exc:
        return _overrides_page(
            request, svc, who, refusal=str(exc), status=exc.status, entered=entered
        )
    except NoRoster as exc:
        return _overrides_page(
            request, svc, who, refusal=str(exc), status=HTTPStatus.CONFLICT, entered=entered
        )
    svc.roster.changed()
    said = f"override {edited.row.id} added: {edited.text} (version {edited.written.number})"
    return done(next if next.startswith("/agents/") else "/overrides", said)


@router.post("/overrides/{override_id}/remove", response_class=HTMLResponse)
def remove_override(
    request: Request, svc: Svc, who: Annotated[Signed, operator], override_id: int
) -> Response:
    try:
        edited = ops_overrides.remove(svc.ops, override_id, by=who.principal.by)
    except Refused as exc:
        return _overrides_page(request, svc, who, refusal=str(exc), status=exc.status)
    svc.roster.changed()
    cut = " (cut at now: it was in force)" if edited.cut_at else ""
    return done("/overrides", f"override {override_id} removed{cut}: {edited.text}")
