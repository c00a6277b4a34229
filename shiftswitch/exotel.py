"""The Exotel CCM v2 client: the device PUT and the users GETs, each giving an :class:`Outcome`.

Nothing here raises for what the network or Exotel does: timeouts, refused connections, error
statuses, HTML pages from proxies and JSON of the wrong shape all become an ``Outcome`` whose
``kind`` tells the caller whether to retry. Classification is by HTTP status first and the
description second; Exotel's numeric error codes differ between its own pages, so they are kept
for display and never branched on. Credentials travel only in the ``Authorization`` header.
"""

from __future__ import annotations

import base64
import enum
import http.client
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    InvalidHeader,
    LocationValueError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
)

from shiftswitch import __version__
from shiftswitch.exotel_body import (
    Body,
    Device,
    Parser,
    ShapeError,
    User,
    device,
    error,
    failed,
    one_user,
    user_page,
)
from shiftswitch.exotel_transport import (
    Pools,
    Unusable,
    chain,
    maybe_sent,
    reason,
    session,
    tunnel_refused,
)
from shiftswitch.hosts import AllowedHosts
from shiftswitch.settings import Credentials

__all__ = ["MAX_PAGE_SIZE", "Device", "ExotelClient", "Kind", "Outcome", "User", "session"]

MAX_PAGE_SIZE = 50  # Exotel's documented maximum for ``limit``
_REGION_HINT = (
    "(check the API key and token, and the account's region: "
    "Singapore is ccm-api.exotel.com, Mumbai ccm-api.in.exotel.com)"
)
_DELTA_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")  # not float(): it would take "inf"


class Kind(enum.StrEnum):
    """What the caller should do next: nothing, try again later, or give up and report."""

    OK = "ok"
    RETRY = "retry"
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one call (all pages of it for :meth:`ExotelClient.list_users`)."""

    kind: Kind
    http_code: int | None
    error_code: str | None
    description: str | None
    request_id: str | None
    retry_after: float | None
    duration: float
    device: Device | None = None
    users: tuple[User, ...] = ()
    # The request may have reached Exotel and no answer came back (a read timeout, a connection
    # lost after sending, a gateway that gave up waiting): Exotel may still apply it, later.
    unanswered: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    def summary(self) -> str:
        """One line for logs and the CLI, e.g. ``403 1003 Another device is ON. ...``."""
        if self.ok:
            return f"{self.http_code} OK"
        text = self.description or "no description"
        # Our own descriptions of odd bodies start "HTTP 502 ...": no need to say 502 twice.
        code = None if self.http_code is None or text.startswith("HTTP ") else str(self.http_code)
        parts = [code, self.error_code, text]
        if self.retry_after is not None:
            parts.append(f"(retry after {self.retry_after:g} s)")
        if self.request_id:
            parts.append(f"[request {self.request_id}]")
        return " ".join(p for p in parts if p)


class ExotelClient:
    """One Exotel account's CCM v2 Users API; thread-safe."""

    def __init__(
        self,
        base_url: str,
        sid: str,
        credentials: Credentials,
        *,
        session: Pools | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        pace: Callable[[], None] | None = None,
        hosts: AllowedHosts | None = None,
    ) -> None:
        """``session``: the connections (:class:`Pools`), borrowed if given (``close`` leaves
        them open), else the client's own.
        ``pace`` is called before every request (e.g. to wait for the account's budget).
        ``hosts``: where the credentials may go (default: Exotel's regions and
        ``SHIFTSWITCH_ALLOWED_BASE_URLS``); to any other ``base_url`` nothing is sent, and
        every call is a FINAL outcome saying why."""
        self._pace = pace
        allowed = hosts or AllowedHosts.from_env()
        self._refusal = None if allowed.allows(base_url) else allowed.refusal(base_url)
        self._root = f"{base_url.rstrip('/')}/v2/accounts/{quote(sid, safe='')}"
        self._host = urlsplit(base_url).netloc.rpartition("@")[2] or base_url
        basic = base64.b64encode(f"{credentials.key}:{credentials.token}".encode()).decode()
        # Secrets a server could echo back (a debugging proxy, an error page) before we show it.
        self._secrets = tuple(s for s in (credentials.token, basic) if s)
        self._owns_session = session is None
        self._session = _new_session() if session is None else session
        self._timeout = timeout
        self._pool: urllib3.PoolManager | None = None
        if self._refusal is None:
            try:
                self._pool = self._session.for_url(base_url)
            except Unusable as exc:  # every call says so, and nothing is sent
                self._refusal = str(exc)
        self._urllib3_timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        # Per request, not on the pools: they may serve several accounts.
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "accept-encoding": "gzip, deflate",  # a page of users compresses well
            "user-agent": f"shiftswitch/{__version__}",
            # HTTP Basic, made once.
            "authorization": f"Basic {basic}",
        }

    def __repr__(self) -> str:
        return f"ExotelClient({self._root!r})"

    def close(self) -> None:
        """Release the connection pool, if this client made it."""
        if self._owns_session:
            self._session.close()

    def set_available(self, user_id: str, device_id: str, available: bool) -> Outcome:
        """Turn a device ON (``True``) or OFF; on OK, ``device`` is Exotel's record of it."""
        url = self._device_url(user_id, device_id)
        return self._exchange("PUT", url, device, {"available": available})[0]

    def set_contact_uri(self, user_id: str, device_id: str, contact_uri: str) -> Outcome:
        """Change a device's number, which Exotel then wants verified again.

        A call of its own: Exotel refuses ``contact_uri`` and ``available`` in one request.
        """
        url = self._device_url(user_id, device_id)
        return self._exchange("PUT", url, device, {"contact_uri": contact_uri})[0]

    def get_user(self, user_id: str) -> Outcome:
        """One user with its devices; ``users`` is ``(user,)`` on OK."""
        url = f"{self._root}/users/{quote(user_id, safe='')}?fields=devices"
        return self._exchange("GET", url, one_user)[0]

    def list_users(
        self, contact_uris: Sequence[str] | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Outcome:
        """Every user (with devices), or those having a device with one of ``contact_uris``.

        Pages until ``offset >= metadata.total``, and also stops on an empty page or one with
        no user not seen before, so that a server that misreports ``total`` or ignores
        ``offset`` cannot make this loop forever. The first failing page's outcome is returned
        (its ``duration`` counting all pages so far).
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}, not {page_size}")
        query = "fields=devices"
        if contact_uris is not None:
            uris = [contact_uris] if isinstance(contact_uris, str) else list(contact_uris)
            if not uris:
                raise ValueError("contact_uris is empty: pass None for every user")
            # Quoted one by one so that "+" goes as %2B and the separating commas stay commas.
            query += "&devices.contact_uri=" + ",".join(quote(u, safe="") for u in uris)
        users: dict[str, User] = {}
        offset, duration = 0, 0.0
        while True:
            url = f"{self._root}/users?{query}&offset={offset}&limit={page_size}"
            outcome, body = self._exchange("GET", url, user_page)
            duration += outcome.duration
            if body is None:
                return replace(outcome, duration=duration)
            new = [u for u in body.users if u.id not in users]
            users.update((u.id, u) for u in new)
            offset += body.count
            # Without metadata, a short page is the last one.
            last = body.count < page_size if body.total is None else offset >= body.total
            if last or not new:
                return replace(outcome, duration=duration, users=tuple(users.values()))

    def probe(self) -> Outcome:
        """The smallest question any Exotel that answers at all answers: the first user."""
        return self._exchange(
            "GET", f"{self._root}/users?fields=devices&offset=0&limit=1", user_page
        )[0]

    def find_device(self, contact_uri: str) -> tuple[Outcome, tuple[str, str] | None]:
        """``(user_id, device_id)`` of the device with ``contact_uri``, through :meth:`list_users`.

        ``None`` when the lookup failed or found nothing (the outcome is then OK). A number on
        two devices cannot be switched safely: that is a FINAL outcome naming both.
        """
        outcome = self.list_users([contact_uri])
        if not outcome.ok:
            return outcome, None
        hits = [
            (u.id, d.id) for u in outcome.users for d in u.devices if d.contact_uri == contact_uri
        ]
        if len(hits) > 1:
            where = ", ".join(f"user {u} device {d}" for u, d in hits)
            text = f"contact URI {contact_uri} is on {len(hits)} devices ({where}); use device ids"
            return replace(outcome, kind=Kind.FINAL, description=text), None
        return outcome, hits[0] if hits else None

    def _device_url(self, user_id: str, device_id: str) -> str:
        return f"{self._root}/users/{quote(user_id, safe='')}/devices/{quote(device_id, safe='')}"

    def _exchange(
        self, method: str, url: str, parse: Parser, payload: dict[str, Any] | None = None
    ) -> tuple[Outcome, Body | None]:
        """One HTTP exchange; the parsed body comes back only when the outcome is OK."""
        if self._refusal is not None or self._pool is None:
            return Outcome(
                Kind.FINAL, None, None, f"not sent: {self._refusal}", None, None, 0.0
            ), None
        if self._pace is not None:
            self._pace()
        data = None if payload is None else json.dumps(payload, allow_nan=False).encode()
        start = time.monotonic()
        try:
            # Never redirected: a 302 would turn the PUT into a GET passing for success.
            response = self._pool.request(
                method,
                url,
                body=data,
                headers=self._headers,
                timeout=self._urllib3_timeout,
                redirect=False,
                retries=False,
            )
        except (HTTPError, OSError, http.client.HTTPException) as exc:
            # Our own words, not str(exc): that quotes the URL and urllib3's internals.
            kind, text = self._failure(exc)
            sent = maybe_sent(exc)
            duration = time.monotonic() - start
            return Outcome(kind, None, None, text, None, None, duration, unanswered=sent), None
        duration = time.monotonic() - start
        outcome, body = _classify(response, parse, duration, datetime.now(UTC), self._secrets)
        if response.status in GATEWAY_GAVE_UP:
            outcome = replace(outcome, unanswered=True)
        return outcome, body

    def _failure(self, exc: BaseException) -> tuple[Kind, str]:
        connect, read = self._timeout
        errors = chain(exc)
        # A URL urllib3 cannot read, an answer it cannot decode or whose headers contradict
        # each other: the same again would fare no better.
        if isinstance(exc, LocationValueError | DecodeError | InvalidHeader):
            return Kind.FINAL, f"request failed: {type(exc).__name__} ({self._host})"
        if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
            return Kind.RETRY, f"timeout after {connect} s connecting to {self._host}"
        if any(isinstance(e, ReadTimeoutError) for e in errors):
            return Kind.RETRY, f"timeout after {read} s (no answer from {self._host})"
        if (refused := tunnel_refused(errors)) is not None:
            status, phrase = refused
            # 407: the proxy's login is wrong, which the same again will not change.
            kind = Kind.FINAL if status == 407 else Kind.RETRY
            return kind, f"the proxy refused the tunnel: {status} {phrase} ({self._host})"
        via = "proxy: " if any(isinstance(e, ProxyError) for e in errors) else ""
        return Kind.RETRY, f"connection failed: {via}{reason(errors)} ({self._host})"


# A gateway in front of Exotel answered for it: Exotel itself may have applied the request.
GATEWAY_GAVE_UP = frozenset({502, 504})


def _new_session() -> Pools:
    return session()  # inside __init__ the parameter named "session" hides the function


def _classify(
    response: urllib3.BaseHTTPResponse,
    parse: Parser,
    duration: float,
    now: datetime,
    secrets: tuple[str, ...] = (),
) -> tuple[Outcome, Body | None]:
    """Kind by HTTP status first, then by what the body says; never raises on the body.

    ``secrets`` are blanked out of all the server said before it reaches the outcome: a
    debugging proxy may echo the Authorization header back.
    """
    status, raw, headers = response.status, response.data, response.headers
    code = request_id = None
    try:
        top: object = json.loads(raw)
    except (ValueError, RecursionError):  # ValueError covers bad UTF-8 too
        media = headers.get("content-type", "").split(";")[0].strip() or "no type"
        # Never the body itself: a page from whatever answered is no message to show.
        text = f"HTTP {status} with a non-JSON body ({media}, {len(raw)} bytes)"
        text = text if raw.strip() else f"HTTP {status} with an empty body"
    else:
        rid = top.get("request_id") if isinstance(top, dict) else None
        request_id = None if rid is None else _redact(str(rid), secrets)
        code, said = error(top)
        problem = ""
        if 200 <= status < 300 and isinstance(top, dict) and not failed(top.get("response")):
            try:
                body = parse(top)
            except ShapeError as exc:
                problem = f" ({exc})"
            else:
                outcome = Outcome(Kind.OK, status, None, None, request_id, None, duration)
                return replace(outcome, device=body.device, users=body.users), body
        if problem or not said:
            said = f"HTTP {status} with an unexpected JSON body{problem}"
        text = said
    # A 2xx gets here only when its body is no success, which a repeat would not change.
    kind = Kind.RETRY if status in (408, 429) or status >= 500 else Kind.FINAL
    if 300 <= status < 400 and headers.get("location"):
        host = urlsplit(headers["location"]).netloc.rpartition("@")[2]
        text += f"; redirected to {host or 'the same host'}"
    if status == 401:
        text += f" {_REGION_HINT}"
    wait = _retry_after(headers.get("retry-after"), now) if kind is Kind.RETRY else None
    code = None if code is None else _redact(code, secrets)
    return Outcome(kind, status, code, _redact(text, secrets), request_id, wait, duration), None


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<hidden>")
    return text


def _retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP-date; None if unusable."""
    if not value:
        return None
    if m := _DELTA_SECONDS.match(value):
        return float(m.group(1))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates come back naive; HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
