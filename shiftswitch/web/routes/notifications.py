"""Notifications: the latest messages told and their delivery (sent, failing and why,
waiting), and the events not in a message yet (README: Notifications)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from shiftswitch.notify import history
from shiftswitch.notify.service import configured
from shiftswitch.settings import ConfigError
from shiftswitch.web.render import page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Svc, Who

router = APIRouter()


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(request: Request, svc: Svc, who: Who) -> HTMLResponse:
    roster, _notice = roster_or_notice(svc)
    engine = svc.ops.engine
    sent = await run_in_threadpool(history.recent, engine, 100)
    pending = await run_in_threadpool(history.waiting, engine)
    try:
        channels = list(configured(svc.ops.settings.notify_path).channels)
        notice = "" if channels else "No channels: set SHIFTSWITCH_NOTIFY (README: Notifications)."
    except ConfigError as exc:
        channels, notice = [], str(exc)
    return page(
        request, "notifications.html", who, now=svc.now(),
        zone=roster.zone if roster else None, sent=sent, pending=pending, channels=channels,
        notice=notice, active="notifications",
    )  # fmt: skip
