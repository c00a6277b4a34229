"""The roster through the API: check and compare an uploaded YAML (viewer), store it as a
version and roll back (admin), export and list versions (viewer); overrides one at a time
(list: viewer; add and remove: operator); dated shifts imported from a WFM export or a calendar
(operator)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from shiftswitch.access import Principal
from shiftswitch.api.deps import Services, admin, operator, services, viewer
from shiftswitch.api.limits import UPLOAD_TIME
from shiftswitch.operations import imports, overrides, rosters
from shiftswitch.planning.validation import validate_text
from shiftswitch.problems import Refused, RosterError
from shiftswitch.reports import iso
from shiftswitch.wfm.layout import shipped_mapping
from shiftswitch.wfm.rows import DAYS

router = APIRouter(tags=["roster"])
Svc = Annotated[Services, Depends(services)]

UPLOAD = "upload"  # how an uploaded roster's problems name their source
# YAML, its JSON subset, plain text, bytes, or no type at all; a form or anything else is a
# mistake (curl's --data-binary sends a form's type unless told: -H 'Content-Type: ...').
YAML_TYPES = frozenset(
    {
        "",
        "application/yaml",
        "application/x-yaml",
        "text/yaml",
        "text/x-yaml",
        "text/plain",
        "application/json",
        "application/octet-stream",
    }
)
Version = Annotated[int, Query(ge=1, le=2**31 - 1)]


def source_warnings(svc: Services) -> list[str]:
    """What a caller editing the stored roster must know when it is not the roster in force."""
    if svc.ops.reads_stored():
        return []
    return [
        f"the roster in force is the file {svc.ops.settings.roster_path} "
        "(SHIFTSWITCH_ROSTER_SOURCE=yaml): the stored roster, and this change to it, take "
        "effect only where SHIFTSWITCH_ROSTER_SOURCE=db"
    ]


@asynccontextmanager
async def uploaded(request: Request, svc: Services) -> AsyncIterator[str]:
    """The roster YAML in the request body (``Content-Type: application/yaml``), read once
    this request has its turn among the uploads (:class:`~shiftswitch.api.limits.Gate`),
    which it holds until the roster has been read and answered for. A body that takes longer
    than a minute to arrive gives the turn back (408)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in YAML_TYPES:
        raise Refused(
            f"send the roster as YAML with 'Content-Type: application/yaml' (not {kind})",
            status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        )
    async with svc.rosters.turn_async():
        body = await body_of(request, UPLOAD)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(f"{UPLOAD}: cannot read roster: not UTF-8 text") from None
        yield text


async def body_of(request: Request, name: str) -> bytes:
    """The request's body; one that takes longer than a minute to arrive is refused (408),
    giving its turn among the uploads back."""
    try:
        async with asyncio.timeout(UPLOAD_TIME):
            return await request.body()
    except TimeoutError:
        raise Refused(
            f"{name}: the body took longer than {UPLOAD_TIME:g} s to arrive; send it again",
            status=HTTPStatus.REQUEST_TIMEOUT,
        ) from None


# The upload is the request's body, read by ``uploaded``: documented here for the API docs.
YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


@router.post("/roster/validate", dependencies=[viewer], openapi_extra=YAML_BODY)
async def validate(svc: Svc, request: Request) -> dict[str, Any]:
    """``shiftswitch roster validate``: 200 with the summary when valid; 422 with every
    problem and its place otherwise."""
    async with uploaded(request, svc) as text:
        report = await run_in_threadpool(validate_text, text, svc.now())
    if not report.ok:
        raise RosterError(report.errors, UPLOAD)
    assert report.roster is not None
    return {
        "valid": True,
        "summary": report.roster.summary(),
        "warnings": [w.render(UPLOAD) for w in report.warnings],
    }


@router.post("/roster/diff", dependencies=[viewer], openapi_extra=YAML_BODY)
async def diff(
    svc: Svc, request: Request, hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24.0
) -> dict[str, Any]:
    """``shiftswitch roster diff``: what storing the upload would change, by name and in the
    transitions of the next ``hours``. Changes nothing."""
    async with uploaded(request, svc) as text:
        compared = await run_in_threadpool(rosters.compare, svc.ops, text, UPLOAD, hours)
    return compared.as_json()


@router.post("/roster/import", openapi_extra=YAML_BODY)
async def store(svc: Svc, who: Annotated[Principal, admin], request: Request) -> dict[str, Any]:
    """``shiftswitch roster import``: validate the upload and store it as the roster, as a
    new version by the caller."""

    def write(text: str) -> dict[str, Any]:
        try:
            written = rosters.store(svc.ops, text, source=f"import by {who.by}", by=who.by)
        except RosterError as exc:  # the upload's problems, named by its places
            raise RosterError(exc.problems, UPLOAD) from None
        left = rosters.devices_left_on(svc.ops.roster_store(), written.before, written.roster)
        svc.roster.changed()
        out = rosters.written_json(written, left)
        return {**out, "warnings": [*out["warnings"], *source_warnings(svc)]}

    async with uploaded(request, svc) as text:
        return await run_in_threadpool(write, text)


SHIFTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/calendar": {"schema": {"type": "string"}},
        },
    }
}


@router.post("/roster/import-shifts", openapi_extra=SHIFTS_BODY)
async def import_shifts(
    svc: Svc,
    who: Annotated[Principal, operator],
    request: Request,
    format: Annotated[str | None, Query(pattern="^(csv|ics)$")] = None,
    mapping: Annotated[
        str | None,
        Query(max_length=8192, description="A shipped mapping's name, or a mapping's YAML."),
    ] = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    days: Annotated[int, Query(ge=1, le=366)] = DAYS,
    dry_run: bool = False,
    name: Annotated[str, Query(max_length=128, pattern=r"^[^/\\]+$")] = UPLOAD,
) -> dict[str, Any]:
    """``shiftswitch roster import-shifts``: the body is the file (CSV or ICS, ``text/calendar``
    for a calendar); it goes into the stored roster as a new version, in place of the
    assignments it replaces. ``dry_run`` shows the diff and changes nothing. Every bad row is
    named in ``problems`` (422); nothing is changed."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = format or ("ics" if kind == "text/calendar" else "csv")
    layout = None
    if mapping is not None:
        layout = shipped_mapping(mapping) or (mapping, "mapping")
    async with svc.rosters.turn_async():
        body = await body_of(request, name)
        req = imports.Request(
            data=body, name=name, format=fmt, mapping=layout, agent=agent,  # type: ignore[arg-type]
            days=days, dry_run=dry_run, by=who.by,
        )  # fmt: skip
        done = await run_in_threadpool(imports.import_shifts, svc.ops, req)
    if not dry_run and not done.unchanged:
        svc.roster.changed()
    answer = done.as_json()
    return {**answer, "warnings": [*answer["warnings"], *source_warnings(svc)]}


@router.get("/roster/export", dependencies=[viewer], response_class=PlainTextResponse)
def export(svc: Svc, version: Version | None = None) -> PlainTextResponse:
    """``shiftswitch roster export``: the stored roster (or a version) as YAML."""
    return PlainTextResponse(rosters.export(svc.ops, version), media_type="application/yaml")


@router.get("/roster/versions", dependencies=[viewer])
def versions(svc: Svc) -> list[dict[str, Any]]:
    """``shiftswitch roster versions --json``."""
    return rosters.versions(svc.ops)


@router.post("/roster/rollback/{number}")
def rollback(
    svc: Svc, number: Annotated[int, Path(ge=1, le=2**31 - 1)], who: Annotated[Principal, admin]
) -> dict[str, Any]:
    """``shiftswitch roster rollback N``: store version N again, as a new version."""
    written = rosters.rollback(svc.ops, number, by=who.by)
    svc.roster.changed()
    left = rosters.devices_left_on(svc.ops.roster_store(), written.before, written.roster)
    out = rosters.written_json(written, left)
    return {**out, "warnings": [*out["warnings"], *source_warnings(svc)]}


# -- overrides ----------------------------------------------------------------------------------


class NewOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    agent: str = Field(max_length=64)
    device: str | None = Field(None, max_length=64, description="The device ON while it lasts.")
    off: bool = Field(False, description="Every device of the agent OFF while it lasts.")
    start: str = Field(alias="from", max_length=64, examples=["2026-12-01T09:00", "now"])
    end: str = Field(alias="to", max_length=64, examples=["2026-12-01T13:00"])
    reason: str | None = Field(None, max_length=200, description="Why, shown with it.")


@router.get("/overrides", dependencies=[viewer])
def list_overrides(svc: Svc, all: bool = False) -> list[dict[str, Any]]:
    """``shiftswitch override list --json`` (``all``: also those over)."""
    return [o.as_json() for o in overrides.listing(svc.ops, show_all=all)]


@router.post("/overrides", status_code=201)
def add_override(
    svc: Svc, body: NewOverride, who: Annotated[Principal, operator]
) -> dict[str, Any]:
    """``shiftswitch override add``: validated with the whole roster; a new version."""
    edited = overrides.add(
        svc.ops, body.agent, device=body.device, off=body.off, start=body.start, end=body.end,
        by=who.by, reason=body.reason,
    )  # fmt: skip
    svc.roster.changed()
    r = edited.row
    return {
        **overrides.Listed(edited.row, overrides.when(r.starts_at, r.ends_at, svc.now())).as_json(),
        "text": edited.text,
        "version": edited.written.number,
        "warnings": source_warnings(svc),
    }


@router.delete("/overrides/{override_id}")
def remove_override(
    svc: Svc,
    override_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    who: Annotated[Principal, operator],
) -> dict[str, Any]:
    """``shiftswitch override remove ID``: one in force is cut at now instead."""
    edited = overrides.remove(svc.ops, override_id, by=who.by)
    svc.roster.changed()
    return {
        "id": override_id,
        "text": edited.text,
        "cut_at": iso(edited.cut_at),
        "version": edited.written.number,
        "warnings": source_warnings(svc),
    }
