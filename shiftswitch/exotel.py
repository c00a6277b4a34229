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
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import certifi
import urllib3
from requests.utils import get_environ_proxies
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
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


class Pools:
    """Keep-alive connections for many threads, shared by every client of a process: one pool
    per host, of ``pool_size`` connections (as many as threads that send at once; more would be
    opened, used once and thrown away), and one more per proxy. Nothing is retried here: the
    caller decides.

    urllib3 directly, the library under ``requests``: a request through ``requests`` cost about
    twice the CPU of the same request through urllib3 (merging settings, preparing the request,
    cookies, hooks), and a worker sends one for each switch. What ``requests`` would take from
    the environment (proxies, ``NO_PROXY``, the CA bundle) is read once per client
    (:func:`environment_options`), certificates verified against ``certifi``'s bundle by default,
    as ``requests`` does.
    """

    def __init__(self, pool_size: int = 64) -> None:
        self.pool_size = pool_size
        self._managers: dict[tuple[str | None, str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def manager(self, proxy: str | None, ca_bundle: str) -> urllib3.PoolManager:
        """The pools through ``proxy`` (None: direct), verifying with ``ca_bundle``."""
        key = (proxy, ca_bundle)
        with self._lock:
            found = self._managers.get(key)
            if found is None:
                options: dict[str, Any] = {
                    "num_pools": 64,
                    "maxsize": self.pool_size,
                    "retries": False,
                    "ca_certs": ca_bundle,
                }
                if proxy is None:
                    found = urllib3.PoolManager(**options)
                else:
                    login = urlsplit(proxy)
                    if login.username is not None:
                        user = f"{unquote(login.username)}:{unquote(login.password or '')}"
                        options["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=user)
                    found = urllib3.ProxyManager(proxy, **options)
                self._managers[key] = found
            return found

    def close(self) -> None:
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()


def session(pool_size: int = 64) -> Pools:
    """The connections of a process's clients (:class:`Pools`)."""
    return Pools(pool_size)


def environment_options(url: str) -> dict[str, Any]:
    """What ``requests`` would take from the environment for requests to ``url``: the proxies
    (``HTTPS_PROXY``, ``NO_PROXY``...) and the CA bundle (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``)."""
    options: dict[str, Any] = {"proxies": get_environ_proxies(url)}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        options["verify"] = bundle
    return options


def _proxy_for(url: str, proxies: dict[str, str]) -> str | None:
    """The proxy ``requests`` would use for ``url`` among ``proxies`` (by scheme, or all)."""
    scheme = urlsplit(url).scheme.lower()
    return proxies.get(scheme) or proxies.get("all") or None


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
        options = environment_options(base_url)
        self._pool = self._session.manager(
            _proxy_for(base_url, options["proxies"]), options.get("verify") or certifi.where()
        )
        self._urllib3_timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        # Per request, not on the pools: they may serve several accounts.
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
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
        if self._refusal is not None:
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
            sent = _maybe_sent(exc)
            duration = time.monotonic() - start
            return Outcome(kind, None, None, text, None, None, duration, unanswered=sent), None
        duration = time.monotonic() - start
        outcome, body = _classify(response, parse, duration, datetime.now(UTC), self._secrets)
        if response.status in GATEWAY_GAVE_UP:
            outcome = replace(outcome, unanswered=True)
        return outcome, body

    def _failure(self, exc: BaseException) -> tuple[Kind, str]:
        connect, read = self._timeout
        chain = _chain(exc)
        if isinstance(exc, LocationValueError):  # a base URL urllib3 cannot read
            return Kind.FINAL, f"request failed: {type(exc).__name__} ({self._host})"
        if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
            return Kind.RETRY, f"timeout after {connect} s connecting to {self._host}"
        if any(isinstance(e, ReadTimeoutError) for e in chain):
            return Kind.RETRY, f"timeout after {read} s (no answer from {self._host})"
        via = "proxy: " if any(isinstance(e, ProxyError) for e in chain) else ""
        return Kind.RETRY, f"connection failed: {via}{_reason(chain)} ({self._host})"


# A gateway in front of Exotel answered for it: Exotel itself may have applied the request.
GATEWAY_GAVE_UP = frozenset({502, 504})


def _maybe_sent(exc: BaseException) -> bool:
    """Whether a request that failed with ``exc`` may have reached the server: anything but a
    connection that was never made (refused, timed out while connecting, no proxy)."""
    # NewConnectionError (refused, no such host) is a ConnectTimeoutError too.
    return not any(isinstance(e, ConnectTimeoutError | ProxyError) for e in _chain(exc))


def _new_session() -> Pools:
    return session()  # inside __init__ the parameter named "session" hides the function


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (args, urllib3's ``reason``, causes), outermost first."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if isinstance(e, BaseException) and all(e is not s for s in seen):
            seen.append(e)
            todo += [*e.args, getattr(e, "reason", None), e.__cause__, e.__context__]
    return seen


def _reason(chain: list[BaseException]) -> str:
    """A short cause such as "connection refused", without URLs or object reprs."""
    for e in reversed(chain):  # the innermost OS error says it best
        if isinstance(e, ssl.SSLError):
            return f"TLS error {e.reason or e.errno}"
        if isinstance(e, OSError) and e.strerror:
            return str(e.strerror).lower()
    if any(isinstance(e, ProtocolError | http.client.HTTPException) for e in chain):
        return "connection broken before the response was complete"
    return type(chain[-1]).__name__


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
