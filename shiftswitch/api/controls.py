"""Operations on the whole (role operator): pause and resume sending, per account or all, and
reconcile now (``remote``: read Exotel's real state first)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from shiftswitch.access import Principal
from shiftswitch.api.deps import Services, operator, services
from shiftswitch.operations.reconcile import reconcile_now
from shiftswitch.problems import Refused, not_found, quote
from shiftswitch.reports import iso

router = APIRouter(tags=["operations"])
Svc = Annotated[Services, Depends(services)]


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(
        None, max_length=64, description="A roster account (default: every account)."
    )


class Reconcile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remote: bool = Field(
        False, description="Also read every managed device's real state from Exotel first."
    )


@router.post("/pause")
def pause(
    svc: Svc, who: Annotated[Principal, operator], body: Scope | None = None
) -> dict[str, Any]:
    """``shiftswitch pause [--account A]``: switches are recorded (pending), none is sent."""
    account = _account(svc, body)
    paused = svc.ops.controls().pause(account, who.by, svc.now())
    return {"account": account, "paused": True, "already": paused is None}


@router.post("/resume")
def resume(
    svc: Svc, who: Annotated[Principal, operator], body: Scope | None = None
) -> dict[str, Any]:
    """``shiftswitch resume [--account A]``: what was recorded meanwhile is superseded, and the
    scheduler reconciles to the present state."""
    account = _account(svc, body)
    ended, superseded = svc.ops.controls().resume(account, who.by, svc.now())
    if not ended:
        scope = f"account {account}" if account else "any account"
        raise Refused(
            f"no pause in force for {scope} (see 'shiftswitch status')",
            status=HTTPStatus.CONFLICT,
        )
    return {
        "resumed": [
            {"account": p.account, "since": iso(p.paused_at), "by": p.paused_by} for p in ended
        ],
        "superseded": superseded,
    }


@router.post("/reconcile")
async def reconcile(
    svc: Svc, who: Annotated[Principal, operator], body: Reconcile | None = None
) -> dict[str, Any]:
    """``shiftswitch reconcile [--remote] --json``."""
    remote = body.remote if body else False
    done = await run_in_threadpool(lambda: reconcile_now(svc.ops, remote=remote, by=who.by))
    return done.as_json()


def _account(svc: Services, body: Scope | None) -> str | None:
    account = body.account if body else None
    if account is not None:
        roster = svc.current_roster()
        if account not in roster.accounts:
            raise not_found(
                f"unknown account {quote(account)}; accounts are: {', '.join(roster.accounts)}",
                place="account",
            )
    return account
