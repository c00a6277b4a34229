"""The web console (README: HTTP API): the day at a glance and the everyday changes, for ops people,
served at ``/`` by the same application as the HTTP API and logged in with its users and roles.

Pages are rendered on the server (Jinja2); a little script refreshes the Now page and keeps its
countdowns going. Everything it needs is in the package (``static/``): it works with no internet.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from shiftswitch.web.render import STATIC, page
from shiftswitch.web.routes import router
from shiftswitch.web.session import Denied, SignIn, signed


def install(app: FastAPI) -> None:
    """Serve the console from ``app``: its pages at ``/``, its files at ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:  # asked by browsers and tools that read no <link>
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.exception_handler(SignIn)
    async def sign_in(_request: Request, exc: SignIn) -> RedirectResponse:
        return RedirectResponse(exc.location, status_code=HTTPStatus.SEE_OTHER)

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> HTMLResponse:
        try:
            who = signed(request)
        except SignIn:
            who = None
        now = request.app.state.services.now()
        return page(
            request, "denied.html", who, now=now, status=HTTPStatus.FORBIDDEN, message=str(exc)
        )
