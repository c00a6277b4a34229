"""Switches on demand (role operator): a device ON or OFF now, held until a time if asked, or
given a new number; through the same task path as the scheduler's (source ``manual``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shiftswitch.access import Principal
from shiftswitch.api.deps import Services, operator, services
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


class Number(Wait):
    number: str = Field(max_length=MAX_TEXT, description="E.164", examples=["+919953125068"])


@router.post("/agents/{agent}/devices/{device}/on")
async def turn_on(
    svc: Svc,
    agent: str,
    device: str,
    who: Annotated[Principal, operator],
    body: Switch | None = None,
) -> JSONResponse:
    """``shiftswitch device on AGENT DEVICE [--until T] [--wait --json]``."""
    return await _switch(svc, agent, device, True, who, body or Switch.model_validate({}))


@router.post("/agents/{agent}/devices/{device}/off")
async def turn_off(
    svc: Svc,
    agent: str,
    device: str,
    who: Annotated[Principal, operator],
    body: Switch | None = None,
) -> JSONResponse:
    """``shiftswitch device off AGENT DEVICE [--until T] [--wait --json]``."""
    return await _switch(svc, agent, device, False, who, body or Switch.model_validate({}))


@router.post("/agents/{agent}/devices/{device}/number")
async def set_number(
    svc: Svc, agent: str, device: str, who: Annotated[Principal, operator], body: Number
) -> JSONResponse:
    """``shiftswitch device set-number AGENT DEVICE NUMBER [--wait --json]``: Exotel stops
    routing to the old number at once; the device must be verified again."""

    def submit() -> devices.Submitted:
        now = svc.now()
        new = devices.number_change(svc.roster.get(now), agent, device, body.number, now)
        return devices.submit(svc.ops, new, f"{agent} {device} number {body.number}", now)

    return await _answer(svc, await run_in_threadpool(submit), body)


async def _switch(
    svc: Svc, agent: str, device: str, available: bool, who: Principal, body: Switch
) -> JSONResponse:
    def submit() -> devices.Submitted:
        return devices.switch(
            svc.ops,
            svc.roster.get(svc.now()),
            available,
            by=who.by,
            agent=agent,
            device=device,
            until=body.until,
        )

    return await _answer(svc, await run_in_threadpool(submit), body)


async def _answer(svc: Services, submitted: devices.Submitted, body: Wait) -> JSONResponse:
    """202 with the action queued (or recorded while paused); with ``wait``, 200 with the
    action once final."""
    row: dict[str, Any] = action_row(submitted.action)
    if not submitted.sent:
        return JSONResponse(
            {**row, "paused": True, "message": devices.paused_message(submitted)},
            status_code=202,
        )
    if not body.wait:
        return JSONResponse(row, status_code=202)
    final = await run_in_threadpool(devices.wait_for, svc.ops, submitted.action.id, body.timeout)
    return JSONResponse(action_row(final), status_code=200)
