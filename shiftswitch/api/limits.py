"""Limits every request is held to, before any route sees it: the size of its body (a roster
upload, or a small JSON object or form), and the headers every answer carries (no sniffing, no
framing, no caching of what a role saw); and the :class:`Gate` of each piece of work that costs
the server much memory (reading a roster, checking a password), so that no mix of legal
requests can take more than the gates allow at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from shiftswitch.problems import Refused
from shiftswitch.roster.limits import LIMITS, MIB

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A roster upload. Reading one takes 30 to 50 times its size in memory (a 4.9 MB roster of
# 40,000 agents: 110 MB); a larger roster file (up to 32 MiB) is imported from the command line.
ROSTER_BODY = 8 * MIB
# A WFM export or a calendar: read row by row, a few times its size in memory; a month of
# 10,000 agents with breaks is about 14 MB.
SHIFTS_BODY = 32 * MIB
SHIFTS_PATHS = ("/api/v1/roster/import-shifts", "/roster/import-shifts")
UPLOAD_LIMITS = replace(LIMITS, bytes=ROSTER_BODY)
OTHER_BODY = 64 * 1024  # bytes: a JSON object or a form
UPLOAD_TIME = 60.0  # seconds a roster upload may take to arrive, once it has its turn
ROSTER_PATHS = ("/api/v1/roster/", "/roster/")

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
# Every page loads only this server's scripts and styles.
CSP = (
    b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
    b"form-action 'self'"
)


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def too_large_message(limit: int) -> str:
    return f"the body is larger than {limit:,} bytes; send less"


class Limits:
    """ASGI middleware: refuse a body over its limit (413) before reading past it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = ROSTER_BODY if path.startswith(ROSTER_PATHS) else OTHER_BODY
        if path.startswith(SHIFTS_PATHS):
            limit = SHIFTS_BODY
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers += HEADERS
                headers.append((b"content-security-policy", CSP))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except TooLarge:
            if not started:
                await _too_large(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"the body is larger than {limit:,} bytes; send less"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Gate:
    """At most ``size`` requests at a time do one costly piece of work; the others wait their
    turn, up to ``wait`` seconds, and are then refused with 429 and a Retry-After. A waiting
    request holds no thread and has read nothing of its body."""

    POLL = 0.05  # seconds between two looks for a turn, while waiting in the event loop

    def __init__(self, what: str, size: int, wait: float, retry_after: int) -> None:
        self.what, self.size, self.wait, self.retry_after = what, size, wait, retry_after
        self._turns = threading.BoundedSemaphore(size)

    def _busy(self) -> Refused:
        return Refused(
            f"too many {self.what} at once (at most {self.size}); "
            f"try again in {self.retry_after} s",
            status=HTTPStatus.TOO_MANY_REQUESTS,
            retry_after=self.retry_after,
        )

    @contextmanager
    def turn(self) -> Iterator[None]:
        """In a worker thread: wait for a turn, then hold it."""
        if not self._turns.acquire(timeout=self.wait):
            raise self._busy()
        try:
            yield
        finally:
            self._turns.release()

    @asynccontextmanager
    async def turn_async(self) -> AsyncIterator[None]:
        """In the event loop: wait for a turn without blocking it, then hold it."""
        deadline = time.monotonic() + self.wait
        while not self._turns.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise self._busy()
            await asyncio.sleep(self.POLL)
        try:
            yield
        finally:
            self._turns.release()


def roster_gate() -> Gate:
    """One roster read at a time (up to 8 MiB: 400 MB at most); others wait 30 s."""
    return Gate("rosters being read", size=1, wait=30.0, retry_after=10)


def password_gate() -> Gate:
    """Two password checks at a time (argon2 takes 64 MiB each); others wait 10 s."""
    return Gate("password checks", size=2, wait=10.0, retry_after=2)
