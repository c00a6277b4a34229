"""What ``shiftswitch api`` serves: the HTTP API (:mod:`shiftswitch.api`) and the web console
(:mod:`shiftswitch.web`) beside it, on one set of services, one login and the same limits."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from shiftswitch import web
from shiftswitch.api.app import create_api
from shiftswitch.clock import Clock
from shiftswitch.settings import Settings


def create_app(
    settings: Settings, clock: Clock | None = None, *, allowed_hosts: Sequence[str] = ("*",)
) -> FastAPI:
    """The API and the console over ``settings``' database, Redis and roster, answering
    requests for ``allowed_hosts`` only (see :func:`~shiftswitch.api.app.create_api`)."""
    app = create_api(settings, clock, allowed_hosts=allowed_hosts)
    web.install(app)
    return app
