"""Logging in and out of the console: the API's users, sessions and login throttle.

The login form is protected from cross-site requests too (login CSRF: another site logging the
browser in to an account of its choosing): the page sets a random token in a ``SameSite=Strict``
cookie and in the form, and a login must bring both, the same.
"""

from __future__ import annotations

import hmac
import re
import secrets
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shiftswitch.api.access import log_in, log_out, set_session_cookie
from shiftswitch.api.deps import session_of
from shiftswitch.operations import Refused
from shiftswitch.web.render import page, refused_with
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Svc, require, signed

router = APIRouter()


def _next(path: str | None) -> str:
    """Where to go after logging in: a path of this site only."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, svc: Svc, next: str = "/") -> Response:
    if session_of(request) is not None:
        return RedirectResponse(_next(next), status_code=HTTPStatus.SEE_OTHER)
    return _form(request, svc, next=_next(next), name="")


LOGIN_COOKIE = "shiftswitch_login"  # the login form's token, on /login only
LOGIN_FORM_TTL = 3600  # seconds a login form may be sent after it was shown
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def _form(
    request: Request,
    svc: Svc,
    *,
    next: str,
    name: str,
    status: int = HTTPStatus.OK,
    refusal: str | None = None,
) -> Response:
    """The login page, with the token of its form in its cookie: the one the browser has
    (another tab's login form), or a new one."""
    shown = request.cookies.get(LOGIN_COOKIE, "")
    token = shown if TOKEN.fullmatch(shown) else secrets.token_urlsafe(32)
    roster, _notice = roster_or_notice(svc)
    response = page(
        request,
        "login.html",
        None,
        now=svc.now(),
        zone=roster.zone if roster else None,  # the zone every page after it uses
        status=status,
        next=next,
        name=name,
        refusal=refusal,
        login_token=token,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_TTL,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
    login_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    shown = request.cookies.get(LOGIN_COOKIE, "")
    if not shown or not hmac.compare_digest(shown.encode(), login_token.encode()):
        refusal = "this login form has expired or came from another site: log in again here"
        return _form(request, svc, next=_next(next), name="", status=403, refusal=refusal)
    try:
        _principal, secret, _csrf = await log_in(request, svc, name.strip(), password, "console")
    except Refused as exc:
        form = _form(
            request, svc, next=_next(next), name=name, status=exc.status, refusal=exc.message
        )
        return refused_with(form, exc)
    response = RedirectResponse(_next(next), status_code=HTTPStatus.SEE_OTHER)
    set_session_cookie(request, response, secret)
    return response


@router.post("/logout")
def logout(
    request: Request, svc: Svc, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    who = signed(request)
    require(who, who.role, csrf_token)
    response = RedirectResponse("/login", status_code=HTTPStatus.SEE_OTHER)
    log_out(request, svc, response)
    return response
