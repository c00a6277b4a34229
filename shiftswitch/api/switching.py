"""Switches on demand (role operator): a device ON or OFF now, held until a time if asked, or
given a new number; through the same task path as the scheduler's (source ``manual``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shiftswitch import numbers
from shiftswitch.access import Principal
from shiftswitch.api.deps import Services, operator, services
from shiftswitch.models import FINAL_STATUSES
from shiftswitch.operations import devices
from shiftswitch.reports import action_row

router = APIRouter(tags=["devices"])
Svc = Annotated[Services, Depends(services)]
Operator = Annotated[Principal, operator]
MAX_TEXT = 64


class Wait(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait: bool = Field(False, description="Answer with the result once the action is final.")
    timeout: float = Field(120.0, ge=1, le=3600, description="With wait: seconds.")


class Switch(Wait):
    until: str | None = Field(
        None,
        max_length=MAX_TEXT,
        description="Hold the device so until this date-time (roster zone unless it has an "
        "offset): the scheduler does not undo it, and applies the roster again then.",
        examples=["2026-12-01T18:00"],
    )
    reason: str | None = Field(
        None, max_length=devices.REASON_LENGTH,
        description="Why, for whoever reads the hold (one line).",
        examples=["agent on a training call"],
    )  # fmt: skip


class Number(Wait):
    number: str = Field(max_length=MAX_TEXT, description="E.164", examples=["+919953125068"])


def _switch_route(available: bool) -> None:
    state = "on" if available else "off"

    async def turn(
        svc: Svc,
        request: Request,
        agent: str,
        device: str,
        who: Operator,
        body: Switch | None = None,
    ) -> JSONResponse:
        return await _switch(svc, request, agent, device, available, who, body)

    turn.__doc__ = f"``shiftswitch device {state} AGENT DEVICE [--until T] [--wait --json]``."
    router.post(f"/agents/{{agent}}/devices/{{device}}/{state}", name=f"turn_{state}")(turn)


_switch_route(True)
_switch_route(False)


@router.post("/agents/{agent}/devices/{device}/number")
async def set_number(
    svc: Svc, request: Request, agent: str, device: str, who: Operator, body: Number
) -> JSONResponse:
    """``shiftswitch device set-number AGENT DEVICE NUMBER [--wait --json]``: Exotel stops
    routing to the old number at once; the device must be verified again (``warnings`` says
    so, as the command does)."""

    def submit() -> devices.Submitted:
        now = svc.now()
        new = devices.number_change(svc.roster.get(now), agent, device, body.number, now)
        return devices.submit(svc.ops, new, f"{agent} {device} number {body.number}", now)

    submitted = await run_in_threadpool(submit)
    warnings = [numbers.before(submitted.new), numbers.after(submitted.new, done=False)]
    return await _answer(svc, request, submitted, body, warnings=warnings)


async def _switch(
    svc: Svc,
    request: Request,
    agent: str,
    device: str,
    available: bool,
    who: Principal,
    body: Switch | None,
) -> JSONResponse:
    body = body or Switch.model_validate({})

    def submit() -> devices.Submitted:
        return devices.switch(
            svc.ops,
            svc.roster.get(svc.now()),
            available,
            by=who.by,
            agent=agent,
            device=device,
            until=body.until,
            reason=body.reason,
        )

    return await _answer(svc, request, await run_in_threadpool(submit), body)


async def _answer(
    svc: Services,
    request: Request,
    submitted: devices.Submitted,
    body: Wait,
    warnings: list[str] | None = None,
) -> JSONResponse:
    """202 with the action queued (or recorded while paused); with ``wait``, 200 with the
    action once final.

    The wait holds no thread: it looks at the action (a short read in the thread pool) every
    0.2 s and sleeps in between, so waiting callers never starve the requests that need a
    thread; it stops when the caller goes away."""
    more = {"warnings": warnings} if warnings else {}
    row: dict[str, Any] = {**action_row(submitted.action), **more}
    if not submitted.sent:
        return JSONResponse(
            {**row, "paused": True, "message": devices.paused_message(submitted)},
            status_code=202,
        )
    if not body.wait:
        return JSONResponse(row, status_code=202)
    deadline = time.monotonic() + body.timeout
    while True:
        action = await run_in_threadpool(devices.read, svc.ops, submitted.action.id)
        if action.status in FINAL_STATUSES:
            return JSONResponse({**action_row(action), **more}, status_code=200)
        if time.monotonic() > deadline:
            raise devices.still_open(action, body.timeout)
        if await request.is_disconnected():
            return JSONResponse(action_row(action), status_code=202)  # nobody reads it
        await anyio.sleep(devices.WAIT_STEP)
