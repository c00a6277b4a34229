"""The console's routes, one module per page."""

from __future__ import annotations

from fastapi import APIRouter

from shiftswitch.web.routes import (
    agents,
    audit,
    boundaries,
    calendar,
    login,
    notifications,
    now,
    operations,
    overrides,
    reports,
    roster,
    timeline,
)

router = APIRouter(include_in_schema=False)
for module in (
    login, now, boundaries, timeline, agents, roster, overrides, operations, reports,
    notifications, audit, calendar,
):  # fmt: skip
    router.include_router(module.router)
