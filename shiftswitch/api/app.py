"""The HTTP API's application: routes, how errors are said, and the limits every request is held
to. The server adds the web console beside it (:mod:`shiftswitch.server`).

Every refusal is one JSON object, ``{"error": "..."}``, in the command line's words, with a 4xx
for the caller's mistakes: 400 a malformed request, 401 no valid credentials, 403 a role that
may not, 404 an unknown name, 409 a state that does not allow it, 413 a body too large, 415 a
body of the wrong type, 422 a roster that does not validate (with every ``problems`` line),
429 too many failed attempts. A 5xx is never the caller's doing: 502 Exotel failed a read,
503 the database or Redis is unreachable, 504 a wait ran out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from shiftswitch import __version__
from shiftswitch.access import AccessError
from shiftswitch.api import access, controls, docs, reading, reports, roster, switching
from shiftswitch.api.audit import AuditTrail
from shiftswitch.api.deps import Services
from shiftswitch.api.limits import Limits, TooLarge, too_large_message
from shiftswitch.clock import Clock, SystemClock
from shiftswitch.logs import event
from shiftswitch.notify import service as notify_service
from shiftswitch.operations import Operations, Refused
from shiftswitch.problems import RosterError, count
from shiftswitch.settings import ConfigError, Settings
from shiftswitch.sources.store import NoRoster
from shiftswitch.wfm.files import BadFile

log = logging.getLogger("shiftswitch.api")

PREFIX = "/api/v1"


def create_api(
    settings: Settings, clock: Clock | None = None, *, allowed_hosts: Sequence[str] = ("*",)
) -> FastAPI:
    """The API over ``settings``' database, Redis and roster, answering
    requests for ``allowed_hosts`` only (the Host header; a page of another site that resolves
    its name to this machine, DNS rebinding, gets 400)."""
    services = Services.build(Operations(settings, clock or SystemClock()))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The API server delivers notifications too, and notices a missing scheduler.
        telling = notify_service.start_deliverer(
            settings, services.ops.engine, services.ops.clock, "no_scheduler"
        )
        try:
            yield
        finally:
            if telling is not None:
                telling.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="shiftswitch",
        version=__version__,
        summary="Exotel devices ON and OFF at shift boundaries: status, switches, roster.",
        docs_url=None,  # our own page (docs.py): no scripts from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.services = services
    for module in (reading, switching, roster, controls, access, reports):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(docs.router)
    _errors(app)
    app.add_middleware(Limits)
    app.add_middleware(AuditTrail)  # outermost: it sees the status the client gets (a 413 too)
    if "*" not in allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


def error(status: int, message: str, **more: Any) -> JSONResponse:
    return JSONResponse({"error": message, **more}, status_code=status)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> JSONResponse:
        response = error(exc.status, str(exc))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RosterError)
    async def roster_refused(_request: Request, exc: RosterError) -> JSONResponse:
        source = exc.source or "roster"
        problems = [p.render(exc.source) for p in exc.problems]
        if len(exc.problems) == 1 and not exc.problems[0].path:
            return error(422, f"{source}: {exc.problems[0].message}", problems=problems)
        summary = f"{source}: {count(len(problems), 'problem')}; roster refused"
        return error(422, summary, problems=problems)

    @app.exception_handler(BadFile)
    async def file_refused(_request: Request, exc: BadFile) -> JSONResponse:
        file = exc.problems[0].file if exc.problems else "upload"
        summary = f"{file}: {count(len(exc.problems), 'problem')}; import refused"
        return error(422, summary, problems=exc.lines())

    @app.exception_handler(NoRoster)
    async def no_roster(_request: Request, exc: NoRoster) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(AccessError)
    async def access_refused(_request: Request, exc: AccessError) -> JSONResponse:
        return error(exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = tuple(first.get("loc", ()))
        if first.get("type") == "json_invalid":
            return error(400, "the body is not JSON: send a JSON object")
        if loc == ("body",):
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind and kind != "application/json" and not kind.endswith("+json"):
                return error(
                    415, f"send JSON with 'Content-Type: application/json' (not {kind[:64]})"
                )
        place = ".".join(str(p) for p in loc[1:] if loc and loc[0] in ("body", "query", "path"))
        place = place or ".".join(str(p) for p in loc) or "request"
        message = str(first.get("msg", "malformed request"))
        return error(400, f"{place}: {message}")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, TooLarge):  # a body without a length, read past its limit
            return error(413, too_large_message(exc.__cause__.limit))
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(ConfigError)
    async def misconfigured(_request: Request, exc: ConfigError) -> JSONResponse:
        return error(503, f"configuration: {exc}")

    @app.exception_handler(DataError)
    async def unstorable(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database will not take, such as a NUL character in a name: the caller's.
        # The database's message may quote the value, so only its kind is logged.
        event(log, logging.WARNING, "database_refused_value", reason=type(exc.orig).__name__)
        return error(
            400,
            "a value in the request cannot be used (a NUL character, or out of range); "
            "correct it and try again",
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(ProgrammingError)
    async def database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        event(log, logging.ERROR, "database_error", reason=reason)
        if "no such table" in reason or "does not exist" in reason:
            return error(503, f"database: {reason}: run 'shiftswitch db upgrade' first")
        return error(503, "database: unreachable or failing (see the server's log)")

    @app.exception_handler(RedisError)
    async def redis_down(_request: Request, exc: RedisError) -> JSONResponse:
        event(log, logging.ERROR, "redis_error", reason=exc.__class__.__name__)
        return error(503, "redis: unreachable or failing (check REDIS_URL; is Redis running?)")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed: %s %s", request.method, request.url.path)
        return error(500, "internal error: see the server's log")
