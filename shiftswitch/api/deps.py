"""What each request needs: the shared services, and who is calling with which role.

A caller is a system with an API token (``Authorization: Bearer TOKEN``) or a person in the
web console with a session cookie; nobody else. A session's state-changing requests must carry
its CSRF token (header ``X-CSRF-Token``, or form field ``csrf_token``), so that another site
cannot make a logged-in browser change anything. Bad tokens and failed logins are counted per
address (and per user name) in Redis and slowed down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import Depends, Request, Response
from redis.exceptions import RedisError

from shiftswitch import redisclient
from shiftswitch.access import AccessStore, LoginThrottle, Principal, Role, SessionInfo
from shiftswitch.api.limits import Gate, password_gate, roster_gate
from shiftswitch.logs import event
from shiftswitch.operations import Operations, Refused
from shiftswitch.operations.live_roster import LiveRoster
from shiftswitch.roster.model import Roster

log = logging.getLogger("shiftswitch.api")

SESSION_COOKIE = "shiftswitch_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Services:
    """Built once when the application starts, shared by every request."""

    ops: Operations
    roster: LiveRoster
    access: AccessStore
    throttle: LoginThrottle
    rosters: Gate = field(default_factory=roster_gate)  # uploads read one at a time
    passwords: Gate = field(default_factory=password_gate)

    @classmethod
    def build(cls, ops: Operations) -> Services:
        redis = redisclient.client(ops.settings.redis, socket_timeout=5)
        access = AccessStore(ops.engine)
        throttle = LoginThrottle(redis, salt=access.throttle_salt())
        return cls(ops, LiveRoster(ops), access, throttle)

    def now(self) -> datetime:
        return self.ops.clock.now()

    def current_roster(self) -> Roster:
        return self.roster.get(self.now())


class FastJSON(Response):
    """JSON written by orjson: several times faster than the standard library on the large
    answers (status at 10,000 agents)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


class Unauthorized(Refused):
    """No valid credentials (401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=HTTPStatus.UNAUTHORIZED)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def session_of(request: Request) -> SessionInfo | None:
    """The console session the request's cookie names, if it is valid."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    s = services(request)
    return s.access.check_session(secret, s.now())


def session_caller(request: Request) -> Principal | None:
    """The user logged in to the console, or None."""
    found = session_of(request)
    return found.principal if found else None


def check_csrf(info: SessionInfo, token: str | None) -> None:
    """Refuse a session's state-changing request without its CSRF token (403)."""
    if not info.csrf_ok(token):
        raise Refused(
            "missing or wrong CSRF token: reload the page and try again",
            status=HTTPStatus.FORBIDDEN,
        )


def caller(request: Request) -> Principal:
    """Who is calling: an API token's principal, or a console session's user."""
    header = request.headers.get("authorization")
    if header is not None:
        return _token_caller(request, header)
    info = session_of(request)
    if info is None:
        if request.cookies.get(SESSION_COOKIE):
            raise Unauthorized("your session is over: log in again")
        raise Unauthorized(
            "no credentials: send 'Authorization: Bearer TOKEN' (a token from "
            "'shiftswitch tokens create') or log in to the console"
        )
    if request.method not in SAFE_METHODS:
        check_csrf(info, request.headers.get(CSRF_HEADER))
    request.state.session = info
    return _noted(request, info.principal)


def _token_caller(request: Request, header: str) -> Principal:
    s = services(request)
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("give the token as 'Authorization: Bearer TOKEN'")
    principal = s.access.check_token(secret.strip(), s.now())
    if principal is not None:
        # A valid token is never slowed down, even from an address that also sent bad ones
        # (one shared by many systems): guessing a 256-bit token is hopeless anyway; the
        # throttle makes a guesser's (or a misconfigured system's) failures cost time.
        return _noted(request, principal)
    address = client_address(request)
    try:
        wait = s.throttle.attempt(f"token-address:{address}")
    except RedisError:
        wait = 0.0  # without Redis, bad tokens are refused unthrottled
    if wait > 0:
        raise too_many(wait)  # not logged again: one line per bad token let through
    event(log, logging.WARNING, "bad_token", address=address)
    raise Unauthorized("invalid, expired or revoked token")


def _noted(request: Request, who: Principal) -> Principal:
    """The caller, noted for the audit trail (:mod:`shiftswitch.api.audit`), which logs a
    change asked once it is answered."""
    request.state.principal = who
    return who


def too_many(wait: float) -> Refused:
    seconds = max(1, round(wait))
    return Refused(
        f"too many failed attempts: try again in {seconds} s",
        status=HTTPStatus.TOO_MANY_REQUESTS,
        retry_after=seconds,
    )


def require(needed: Role) -> Callable[..., Principal]:
    """A dependency: the caller, who must have ``needed`` (or a higher role); 403 otherwise."""

    def dependency(who: Principal = Depends(caller)) -> Principal:  # noqa: B008
        if not who.may(needed):
            raise Refused(
                f"{'token ' if who.via == 'token' else ''}{who.name} has the role {who.role}; "
                f"this needs {needed} or above",
                status=HTTPStatus.FORBIDDEN,
            )
        return who

    return dependency


viewer = Depends(require(Role.VIEWER))
operator = Depends(require(Role.OPERATOR))
admin = Depends(require(Role.ADMIN))
