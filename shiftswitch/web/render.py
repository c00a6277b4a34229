"""The console's pages: Jinja2 templates of the package, and what every page is given."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from shiftswitch.advice import advise
from shiftswitch.operations import Refused
from shiftswitch.web.formats import Clockface, duration_text
from shiftswitch.web.session import Signed

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.globals["duration"] = duration_text
TEMPLATES.env.globals["advise"] = advise
STATIC = HERE / "static"
UTC_ZONE = ZoneInfo("UTC")

NAV = (
    ("now", "Now", "/"),
    ("timeline", "Timeline", "/timeline"),
    ("roster", "Roster", "/roster"),
    ("overrides", "Overrides", "/overrides"),
    ("operations", "Operations", "/operations"),
    ("reports", "Reports", "/reports"),
    ("notifications", "Notifications", "/notifications"),
)
ADMIN_NAV = (("audit", "Audit", "/audit"),)


def page(
    request: Request,
    template: str,
    who: Signed | None,
    *,
    now: datetime,
    zone: ZoneInfo | None = None,
    status: int = HTTPStatus.OK,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` for ``who``: times shown in ``zone`` (the roster's), the message of
    the change just made (``said``) and of one refused (``refusal``) on top."""
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "who": who,
            "now": now,
            "tz": Clockface(zone or UTC_ZONE),
            "nav": NAV + (ADMIN_NAV if who is not None and who.may("admin") else ()),
            "said": request.query_params.get("said"),
            **context,
        },
        status_code=status,
    )


def done(path: str, said: str, **params: str) -> RedirectResponse:
    """After a change: back to ``path``, saying what was done."""
    query = urlencode({**params, "said": said})
    return RedirectResponse(f"{path}?{query}", status_code=HTTPStatus.SEE_OTHER)


R = TypeVar("R", bound=Response)


def refused_with(response: R, exc: Refused) -> R:
    """``response`` (a page saying ``exc``) with the Retry-After of a refusal that has one
    (a 429: too many at once, or too many failed logins), as the API's answers have."""
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
