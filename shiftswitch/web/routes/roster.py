"""The roster page: the version in force and every version before, a readable diff between any
two, an upload checked and compared before it is imported (admin), rollback (admin); a WFM
export or a calendar checked and compared before its shifts are imported (operator)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.datastructures import UploadFile

from shiftswitch.access import Role
from shiftswitch.api.deps import Services
from shiftswitch.api.limits import SHIFTS_BODY, UPLOAD_LIMITS, UPLOAD_TIME
from shiftswitch.hosts import AllowedHosts
from shiftswitch.operations import Refused, imports, rosters
from shiftswitch.planning.diff import RosterDiff
from shiftswitch.problems import RosterError
from shiftswitch.roster.limits import too_large
from shiftswitch.roster.loader import parse_roster
from shiftswitch.sources.store import NoRoster
from shiftswitch.web.render import done, page, refused_with
from shiftswitch.web.routes.base import roster_or_notice, version_in_force
from shiftswitch.web.session import Signed, Svc, Who, admin, require, signed
from shiftswitch.wfm.files import BadFile, decode
from shiftswitch.wfm.layout import shipped, shipped_mapping

router = APIRouter()
UPLOAD = "upload"


def _roster_page(
    request: Request, svc: Svc, who: Signed, status: int = HTTPStatus.OK, **more: Any
) -> HTMLResponse:
    now = svc.now()
    roster, notice = roster_or_notice(svc)
    versions = rosters.versions(svc.ops)
    return page(
        request,
        "roster.html",
        who,
        now=now,
        zone=roster.zone if roster else None,
        roster=roster,
        in_force=version_in_force(svc),
        notice=notice,
        versions=list(reversed(versions)),
        mappings=shipped(),
        status=status,
        active="roster",
        **more,
    )


@router.get("/roster", response_class=HTMLResponse)
def roster_view(
    request: Request,
    svc: Svc,
    who: Who,
    a: int | None = Query(None, ge=1, le=2**31 - 1),
    b: int | None = Query(None, ge=1, le=2**31 - 1),
) -> HTMLResponse:
    """The versions; with ``a`` and ``b``, what changed from version ``a`` to version ``b``."""
    if a is None or b is None:
        return _roster_page(request, svc, who)
    try:
        store = svc.ops.roster_store()
        # Read to be compared, never sent from: whatever hosts they name.
        before = parse_roster(rosters.content(store, a), AllowedHosts(anywhere=True))
        after = parse_roster(rosters.content(store, b), AllowedHosts(anywhere=True))
    except Refused as exc:
        return _roster_page(request, svc, who, exc.status, refusal=str(exc), a=a, b=b)
    except RosterError as exc:
        return _roster_page(
            request, svc, who, HTTPStatus.CONFLICT, a=a, b=b,
            refusal=f"a stored version no longer reads: {exc.problems[0].render()}",
        )  # fmt: skip
    diff = RosterDiff.between(before, after)
    return _roster_page(request, svc, who, a=a, b=b, diff=diff)


@router.get("/roster/export")
def export(svc: Svc, _who: Who, version: int | None = Query(None, ge=1, le=2**31 - 1)) -> Response:
    try:
        text = rosters.export(svc.ops, version)
    except Refused as exc:
        return PlainTextResponse(str(exc), status_code=exc.status)
    name = f"schedules-v{version}.yaml" if version else "schedules.yaml"
    return PlainTextResponse(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@asynccontextmanager
async def _upload_turn(svc: Services, who: Signed) -> AsyncIterator[None]:
    """A turn among the uploads (:class:`~shiftswitch.api.limits.Gate`), for an admin only:
    a role below is refused before it waits (its CSRF token is checked once the form is
    read)."""
    require(who, Role.ADMIN, who.csrf)
    async with svc.rosters.turn_async():
        yield


async def _form_text(request: Request, field: str) -> tuple[Signed, str, str]:
    """The admin's form with a roster in ``field`` (a file, or text): (who, text, file name).
    A form that takes longer than a minute to arrive is refused (408)."""
    who = signed(request)
    try:
        async with asyncio.timeout(UPLOAD_TIME):
            form = await request.form(max_part_size=UPLOAD_LIMITS.bytes + 1)
    except TimeoutError:
        raise Refused(
            f"the form took longer than {UPLOAD_TIME:g} s to arrive; send it again",
            status=HTTPStatus.REQUEST_TIMEOUT,
        ) from None
    token = form.get("csrf_token")
    require(who, Role.ADMIN, token if isinstance(token, str) else None)
    value = form.get(field)
    if isinstance(value, UploadFile):
        data, name = await value.read(UPLOAD_LIMITS.bytes + 1), value.filename or UPLOAD
    else:
        data, name = (value or "").encode(), str(form.get("name") or UPLOAD)
    problem = too_large(len(data), UPLOAD_LIMITS)
    if problem is not None:
        raise Refused(f"{name}: {problem.message}")
    try:
        return who, data.decode("utf-8"), name
    except UnicodeDecodeError:
        raise Refused(f"{name}: cannot read roster: not UTF-8 text") from None


@router.post("/roster/upload", response_class=HTMLResponse)
async def upload(request: Request, svc: Svc) -> HTMLResponse:
    """Check an uploaded roster and compare it with the stored one; nothing is stored."""
    who = signed(request)
    try:
        async with _upload_turn(svc, who):
            who, text, name = await _form_text(request, "file")
            compared = await run_in_threadpool(rosters.compare, svc.ops, text, name)
    except Refused as exc:
        return refused_with(_roster_page(request, svc, who, exc.status, refusal=str(exc)), exc)
    except RosterError as exc:
        problems = [p.render(exc.source) for p in exc.problems]
        return _roster_page(
            request, svc, who, HTTPStatus.UNPROCESSABLE_ENTITY, problems=problems, name=name
        )
    return _roster_page(request, svc, who, compared=compared, text=text, name=name)


@router.post("/roster/import", response_class=HTMLResponse)
async def import_roster(request: Request, svc: Svc) -> Response:
    """Store the roster checked on the upload page, as a new version."""
    who = signed(request)
    try:
        async with _upload_turn(svc, who):
            who, text, name = await _form_text(request, "text")
            written = await run_in_threadpool(
                lambda: rosters.store(
                    svc.ops, text, source=f"console upload {name}", by=who.principal.by
                )
            )
    except Refused as exc:
        return refused_with(_roster_page(request, svc, who, exc.status, refusal=str(exc)), exc)
    except RosterError as exc:
        problems = [p.render(exc.source or name) for p in exc.problems]
        return _roster_page(request, svc, who, HTTPStatus.UNPROCESSABLE_ENTITY, problems=problems)
    svc.roster.changed()
    said = (
        f"unchanged: the stored roster is the same (version {written.number})"
        if written.unchanged
        else f"version {written.number} stored: {written.diff.summary()}"
    )
    return done("/roster", said)


async def _shifts_form(request: Request) -> tuple[Signed, imports.Request]:
    """The operator's form with a WFM export or a calendar (a file, or the text checked
    before), and how to read it."""
    who = signed(request)
    try:
        async with asyncio.timeout(UPLOAD_TIME):
            form = await request.form(max_part_size=SHIFTS_BODY + 1)
    except TimeoutError:
        raise Refused(
            f"the form took longer than {UPLOAD_TIME:g} s to arrive; send it again",
            status=HTTPStatus.REQUEST_TIMEOUT,
        ) from None
    token = form.get("csrf_token")
    require(who, Role.OPERATOR, token if isinstance(token, str) else None)
    value = form.get("file")
    if isinstance(value, UploadFile) and value.filename:
        data, name = await value.read(SHIFTS_BODY + 1), value.filename
    else:
        text = form.get("text")
        data, name = str(text or "").encode(), str(form.get("name") or UPLOAD)
    if not data:
        raise Refused("choose a file to import")
    mapping = str(form.get("mapping") or "")
    layout = shipped_mapping(mapping) if mapping else None
    if mapping and layout is None:
        raise Refused(f"no mapping {mapping!r}; the mappings are {', '.join(shipped())}")
    agent = str(form.get("agent") or "").strip() or None
    return who, imports.Request(
        data=data, name=name, mapping=layout, agent=agent, by=who.principal.by,
        dry_run=form.get("dry_run") == "1",
    )  # fmt: skip


@router.post("/roster/import-shifts", response_class=HTMLResponse)
async def import_shifts(request: Request, svc: Svc) -> Response:
    """Check a WFM export or a calendar and show what it would change (``dry_run``), or put
    its shifts into the stored roster as a new version."""
    who = signed(request)
    name = UPLOAD
    try:
        require(who, Role.OPERATOR, who.csrf)  # a role below waits for no turn
        async with svc.rosters.turn_async():
            who, req = await _shifts_form(request)
            name = req.name
            result = await run_in_threadpool(imports.import_shifts, svc.ops, req)
    except Refused as exc:
        return refused_with(_roster_page(request, svc, who, exc.status, refusal=str(exc)), exc)
    except BadFile as exc:
        return _roster_page(
            request, svc, who, HTTPStatus.UNPROCESSABLE_ENTITY, problems=exc.lines(), name=name
        )
    except RosterError as exc:
        problems = [p.render(exc.source) for p in exc.problems]
        return _roster_page(
            request, svc, who, HTTPStatus.UNPROCESSABLE_ENTITY, problems=problems, name=name
        )
    except NoRoster as exc:
        return _roster_page(request, svc, who, HTTPStatus.CONFLICT, refusal=str(exc))
    if req.dry_run:
        text = decode(req.data, name)  # read as the import read it (Excel's Windows-1252 too)
        return _roster_page(
            request, svc, who, shifts=result, shifts_text=text, shifts_req=req,
            mapping_name=(req.mapping[1].removesuffix(".yaml") if req.mapping else ""),
        )  # fmt: skip
    svc.roster.changed()
    said = (
        f"{name}: unchanged (version {result.version})"
        if result.unchanged
        else f"{name}: version {result.version} stored: {result.diff.summary()}"
    )
    return done("/roster", said)


@router.post("/roster/rollback/{number}", response_class=HTMLResponse)
def rollback(request: Request, svc: Svc, who: Annotated[Signed, admin], number: int) -> Response:
    try:
        written = rosters.rollback(svc.ops, number, by=who.principal.by)
    except Refused as exc:
        return refused_with(_roster_page(request, svc, who, exc.status, refusal=str(exc)), exc)
    except RosterError as exc:
        problems = [p.render(exc.source) for p in exc.problems]
        return _roster_page(request, svc, who, HTTPStatus.UNPROCESSABLE_ENTITY, problems=problems)
    svc.roster.changed()
    return done("/roster", f"rolled back to version {number}: version {written.number} stored")
