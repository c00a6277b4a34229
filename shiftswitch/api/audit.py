"""The API's audit trail in the log: one ``api_change`` line per change asked (every request
but a read) by a caller whose credentials were valid, written once it is answered, with the
status it got; so a change the caller's role may not make is logged as refused (403), not as
made. The tables record who made each change that was made."""

from __future__ import annotations

import logging

from shiftswitch.api.deps import SAFE_METHODS
from shiftswitch.api.limits import ASGIApp, Message, Receive, Scope, Send
from shiftswitch.logs import event

log = logging.getLogger("shiftswitch.api")


class AuditTrail:
    """ASGI middleware: the ``api_change`` line of each change asked, after its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the application fails before answering

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            who = scope.get("state", {}).get("principal")  # set once the credentials held
            if who is not None:
                event(
                    log,
                    logging.INFO,
                    "api_change",
                    by=who.by,
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                )
