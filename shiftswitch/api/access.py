"""Logging in and out (browser sessions), who am I, and users and tokens (role admin), the
same as ``shiftswitch users`` and ``shiftswitch tokens``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from shiftswitch import audit
from shiftswitch.access import SESSION_TTL, Principal, Role, SessionInfo
from shiftswitch.access.credentials import format_instant, parse_expiry
from shiftswitch.api.deps import (
    SESSION_COOKIE,
    Services,
    admin,
    caller,
    client_address,
    services,
    too_many,
)
from shiftswitch.clock import as_utc
from shiftswitch.logs import event
from shiftswitch.problems import Refused

log = logging.getLogger("shiftswitch.api")
router = APIRouter(tags=["access"])
Svc = Annotated[Services, Depends(services)]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class NewUser(Credentials):
    role: Role


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    role: Role
    expires: str | None = Field(
        None, max_length=40, description="30d, 12h, a date-time (UTC unless offset) or a date."
    )


async def log_in(
    request: Request, svc: Services, name: str, password: str, via: str = "api"
) -> tuple[Principal, str, str]:
    """Check a user's password, slowed down after repeated failures; open a session: (the
    user, the cookie's secret, the CSRF token).

    Once it has its turn among the password checks (argon2 takes 64 MiB a check: a few at a
    time, whoever sends them; a login waiting holds no thread), in a worker thread: a login
    refused for want of a turn (429) has counted no attempt.

    Each attempt is counted in Redis before the password is checked (so attempts sent at once
    are all counted) against two keys: the name from this address, and this address. A name
    tried from elsewhere is not locked by this address's failures (so nobody can keep a user
    out from their own machine); an address that tries many names is. A right password clears
    the first key and takes its attempt back from the second.
    """
    async with svc.passwords.turn_async():
        return await run_in_threadpool(_check, request, svc, name, password, via)


def _check(
    request: Request, svc: Services, name: str, password: str, via: str
) -> tuple[Principal, str, str]:
    address = client_address(request)
    pair, place = f"login:{name}@{address}", f"login-address:{address}"
    try:
        wait = svc.throttle.attempt(pair, place)
    except RedisError:
        raise Refused(
            "logins are unavailable while Redis is unreachable",
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        ) from None
    if wait > 0:
        raise too_many(wait)
    now = svc.now()
    principal = svc.access.check_password(name, password, now, via=via)
    if principal is None:
        # Only a name that exists is logged: a password typed into the name field is not.
        known = any(u.name == name for u in svc.access.users())
        event(
            log,
            logging.WARNING,
            "login_failed",
            user=name if known else "(no such user)",
            address=address,
        )
        raise Refused("wrong name or password", status=HTTPStatus.UNAUTHORIZED)
    svc.throttle.succeeded(pair)
    svc.throttle.forgive(place)
    secret, csrf = svc.access.open_session(principal, now)
    event(log, logging.INFO, "login", user=principal.name, role=principal.role)
    return principal, secret, csrf


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure over https, for the session's life."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def log_out(request: Request, svc: Services, response: Response) -> None:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        svc.access.close_session(secret)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


@router.post("/login")
async def login(
    svc: Svc, body: Credentials, request: Request, response: Response
) -> dict[str, Any]:
    """Open a console session: sets the session cookie; answers with the CSRF token that
    every state-changing request of the session must carry (header ``X-CSRF-Token``)."""
    principal, secret, csrf = await log_in(request, svc, body.name, body.password)
    set_session_cookie(request, response, secret)
    return {"name": principal.name, "role": principal.role, "csrf_token": csrf}


@router.post("/logout", dependencies=[Depends(caller)])
def logout(svc: Svc, request: Request, response: Response) -> dict[str, Any]:
    """End the console session."""
    log_out(request, svc, response)
    return {"logged_out": True}


@router.get("/me")
def me(request: Request, who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
    """Who the credentials are: name, role, and how they were given."""
    out: dict[str, Any] = {"name": who.name, "role": who.role, "via": who.via}
    info: SessionInfo | None = getattr(request.state, "session", None)  # set by caller()
    if info is not None:
        out["csrf_token"] = info.csrf_token
    return out


# -- users and tokens (admin) -------------------------------------------------------------------


@router.get("/users", dependencies=[admin])
def users(svc: Svc) -> list[dict[str, Any]]:
    """``shiftswitch users list --json``."""
    return [u.as_json() for u in svc.access.users()]


@router.post("/users", status_code=201)
async def add_user(svc: Svc, body: NewUser, who: Annotated[Principal, admin]) -> dict[str, Any]:
    """``shiftswitch users add``."""
    await run_in_threadpool(
        lambda: svc.access.add_user(body.name, body.role, body.password, by=who.by, now=svc.now())
    )
    return {"name": body.name, "role": body.role}


@router.delete("/users/{name}")
def remove_user(svc: Svc, name: str, who: Annotated[Principal, admin]) -> dict[str, Any]:
    """``shiftswitch users remove``: also ends the user's sessions."""
    svc.access.remove_user(name, by=who.by, now=svc.now())
    return {"name": name, "removed": True}


@router.get("/tokens", dependencies=[admin])
def tokens(svc: Svc) -> list[dict[str, Any]]:
    """``shiftswitch tokens list --json``: never a token itself."""
    now = svc.now()
    return [t.as_json(now) for t in svc.access.tokens()]


@router.post("/tokens", status_code=201)
def create_token(svc: Svc, body: NewToken, who: Annotated[Principal, admin]) -> dict[str, Any]:
    """``shiftswitch tokens create``: the token is in this answer and never again."""
    now = svc.now()
    expires = parse_expiry(body.expires, now) if body.expires else None
    secret = svc.access.create_token(body.name, body.role, expires_at=expires, by=who.by, now=now)
    return {
        "name": body.name,
        "role": body.role,
        "expires_at": format_instant(expires) if expires else None,
        "token": secret,
    }


@router.delete("/tokens/{name}")
def revoke_token(svc: Svc, name: str, who: Annotated[Principal, admin]) -> dict[str, Any]:
    """``shiftswitch tokens revoke``."""
    svc.access.revoke_token(name, now=svc.now(), by=who.by)
    return {"name": name, "revoked": True}


@router.get("/audit", dependencies=[admin])
def audit_events(
    svc: Svc,
    since: Annotated[datetime | None, Query()] = None,
    who: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[dict[str, Any]]:
    """``shiftswitch audit --json``: who changed what, newest first (``since``: an ISO
    date-time, UTC unless it has an offset)."""
    start = None if since is None else as_utc(since if since.tzinfo else since.replace(tzinfo=UTC))
    with Session(svc.ops.engine) as session:
        return audit.events(session, since=start, who=who, limit=limit)
