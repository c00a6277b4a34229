"""Operations: pause and resume sending per account, reconcile and check drift now, the health
of the installation and the failures of the last 24 hours."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from shiftswitch.operations import Refused
from shiftswitch.operations.reconcile import reconcile_now
from shiftswitch.problems import count
from shiftswitch.web import health
from shiftswitch.web.render import done, page
from shiftswitch.web.routes.base import roster_or_notice, version_in_force
from shiftswitch.web.session import Signed, Svc, Who, operator

router = APIRouter()


def _operations_page(
    request: Request, svc: Svc, who: Signed, refusal: str = "", status: int = HTTPStatus.OK
) -> HTMLResponse:
    now = svc.now()
    roster, notice = roster_or_notice(svc)
    number = version_in_force(svc) if roster else None
    line = (
        (True, f"{f'version {number}' if number else 'the roster file'} in force: "
               f"{roster.summary()}")
        if roster
        else (False, notice)
    )  # fmt: skip
    redis = svc.throttle.redis
    return page(
        request,
        "operations.html",
        who,
        now=now,
        zone=roster.zone if roster else None,
        accounts=sorted(roster.accounts) if roster else [],
        pauses=svc.ops.controls().pauses(),
        checks=health.checks(svc.ops.settings, redis, line),
        queue=health.queue(redis),
        failures=health.failures(svc.ops.engine, now),
        refusal=refusal,
        status=status,
        active="operations",
    )


@router.get("/operations", response_class=HTMLResponse)
def operations_view(request: Request, svc: Svc, who: Who) -> HTMLResponse:
    return _operations_page(request, svc, who)


@router.post("/operations/pause")
def pause(
    svc: Svc, who: Annotated[Signed, operator], account: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    done_pause = svc.ops.controls().pause(account or None, who.principal.by, svc.now())
    scope = f"account {account}" if account else "every account"
    if done_pause is None:
        return done("/operations", f"{scope}: a pause in force covers it already")
    return done("/operations", f"sending paused for {scope}")


@router.post("/operations/resume")
def resume(
    svc: Svc, who: Annotated[Signed, operator], account: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    ended, superseded = svc.ops.controls().resume(account or None, who.principal.by, svc.now())
    scope = f"account {account}" if account else "every account"
    if not ended:
        return done("/operations", f"{scope}: no pause to end")
    return done(
        "/operations",
        f"sending resumed for {scope}; {count(superseded, 'action')} recorded meanwhile "
        "superseded: the present state is reconciled instead",
    )


@router.post("/operations/reconcile", response_class=HTMLResponse)
async def reconcile(
    request: Request,
    svc: Svc,
    who: Annotated[Signed, operator],
    remote: Annotated[bool, Form()] = False,
) -> Response:
    """Reconcile now; with ``remote``, read every managed device from Exotel and correct drift."""
    try:
        result = await run_in_threadpool(
            lambda: reconcile_now(svc.ops, remote=remote, by=who.principal.by)
        )
    except Refused as exc:
        return _operations_page(request, svc, who, str(exc), exc.status)
    said = f"reconcile: {count(result.enqueued, 'action')} enqueued"
    if result.remote is not None:
        r = result.remote
        said += (
            f"; drift check: {count(r.devices, 'device')} read from Exotel, "
            f"{len(r.findings)} not as wanted, {count(r.enqueued, 'action')} enqueued"
        )
    return done("/operations", said)
