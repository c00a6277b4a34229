"""Logging in and out of the console: the API's users, sessions and login throttle."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shiftswitch.api.access import log_in, log_out, set_session_cookie
from shiftswitch.api.deps import session_of
from shiftswitch.operations import Refused
from shiftswitch.web.render import page
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
    return page(request, "login.html", None, now=svc.now(), next=_next(next), name="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    svc: Svc,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    try:
        _principal, secret, _csrf = log_in(request, svc, name.strip(), password)
    except Refused as exc:
        return page(
            request,
            "login.html",
            None,
            now=svc.now(),
            status=exc.status,
            next=_next(next),
            name=name,
            refusal=exc.message,
        )
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
