"""A local stand-in for Exotel's CCM v2 Users API, for tests, demos and rehearsals (SPEC §1).

It serves the device PUT and the user GETs with Exotel's envelope and rules
(:mod:`shiftswitch.sandbox.state`), with a per-account rate limit, latency and faults that can be
changed while it runs, and keeps a log of every API request. A control API under ``/_sandbox/``
(no auth; JSON in and out) reads the log and the state, changes devices behind the API's back,
sets faults and resets everything to the seed::

    sandbox = Sandbox(load_seed("sandbox.yaml"), port=0).start()
    requests.put(f"{sandbox.url}/v2/accounts/acme_corp/users/u-100/devices/100280",
                 json={"available": True}, auth=("demo-key", "demo-token"))
    sandbox.stop()
"""

from __future__ import annotations

import json
import math
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from shiftswitch.roster.model import RateLimit
from shiftswitch.sandbox.faults import ControlError, Rule, parse_faults, set_device
from shiftswitch.sandbox.rules import (
    Reply,
    Target,
    authenticate,
    envelope,
    failure,
    get_user,
    list_users,
    route,
    update_device,
)
from shiftswitch.sandbox.seed import load_seed, parse_seed
from shiftswitch.sandbox.state import Account, Seed, SeedError

__all__ = ["DEFAULT_PORT", "Sandbox", "Seed", "SeedError", "load_seed", "parse_seed"]

DEFAULT_PORT = 8090
MAX_BODY = 1 << 20
MAX_LOG = 100_000  # log entries kept (the newest): a long rehearsal must not grow without end
_ALLOWED = {"users": ("GET",), "user": ("GET",), "device": ("PUT",)}
_CONTROL = {
    "health": ("GET",),
    "log": ("GET", "DELETE"),
    "state": ("GET",),
    "faults": ("GET", "PUT"),
    "reset": ("POST",),
    "devices": ("PUT",),
}
_HTML = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    query: str
    authorization: str | None
    body: bytes
    started: float
    error: tuple[int, str] | None = None  # the body could not be read: (status, why)


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    entry: dict[str, Any] | None = None  # the log entry of an API request; control calls have none


def _json(status: int, value: object, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(value).encode(), headers or {})


def _since(query: str) -> int:
    """``GET /_sandbox/log?since=N``: only the entries after seq N, for cheap polling."""
    text = dict(parse_qsl(query)).get("since", "0")
    if not (text.isascii() and text.isdigit()):
        raise ControlError("since: expected a log seq, such as 0")
    return int(text)


def _parse_body(body: bytes) -> tuple[Any, str | None]:
    """The body as JSON (None when empty), or the reason it is not JSON."""
    if not body.strip():
        return None, None
    try:
        return json.loads(body.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "The body is not UTF-8 text"
    except (json.JSONDecodeError, RecursionError):
        return None, "The body is not JSON"


class Sandbox:
    """An HTTP server that speaks Exotel's Users API over the accounts of a :class:`Seed`.

    ``clock`` stamps the log and drives the rate-limit windows, so tests can move time on;
    latency and hangs are real sleeps.
    """

    def __init__(
        self,
        seed: Seed,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        latency_ms: float = 0.0,
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
    ) -> None:
        self.seed = seed
        self.host = host
        self.port = port
        self.clock = clock
        self.verbose = verbose
        self._initial_latency_ms = latency_ms
        # One lock over the accounts, the log, the faults and the rate windows. Nothing sleeps
        # while holding it, so latency and hangs overlap across requests.
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # cuts latency and hangs short on stop()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._bound_port = port  # the port last bound: a free one when asked for port 0
        self._seq = 0  # never restarts, not even on reset, so ?since= polling stays right
        self._reset()

    def _reset(self) -> None:
        self._accounts: dict[str, Account] = self.seed.fresh()
        self._log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG)
        self._latency_ms = self._initial_latency_ms
        self._retry_after = True
        self._rates: dict[str, RateLimit | None] = {
            sid: a.rate_limit for sid, a in self._accounts.items()
        }
        self._rules: list[Rule] = []
        self._windows: dict[str, deque[float]] = {}

    # -- serving ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL for clients, such as ``http://127.0.0.1:8090``: the port last bound."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound_port}"

    def start(self) -> Sandbox:
        """Serve in a background thread and return self. Port 0 picks a free port: see :attr:`url`.

        Raises :class:`OSError` when the address cannot be bound (a port in use).
        """
        server = self._bind()
        self._serving = True
        # stop() waits for the loop's next poll; a short one keeps test teardowns fast.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until :meth:`stop` is called from another, or an interrupt.

        ``ready`` is called with :attr:`url` once the port is bound (with port 0, the first
        moment the URL is known); binding errors raise :class:`OSError` before that.
        """
        server = self._bind()
        self._serving = True
        if ready is not None:
            ready(self.url)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and free the port. Requests sleeping (latency, hangs) go on at once."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        if self._serving:  # shutdown() would wait for ever on a loop that never ran
            server.shutdown()
        server.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread, self._serving = None, False

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError(f"the sandbox is already serving at {self.url}")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self._bound_port = int(self._server.server_address[1])
        return self._server

    # -- requests ---------------------------------------------------------------------------------

    def _handle(self, req: _Request) -> _Response:
        if req.path == "/_sandbox" or req.path.startswith("/_sandbox/"):
            return self._control(req)
        return self._api(req)

    def _finish(self, resp: _Response, req: _Request) -> None:
        """Stamp and keep the log entry; called just before the response is written."""
        finished = self.clock()
        if resp.entry is not None:
            with self._lock:
                self._seq += 1
                resp.entry.update(seq=self._seq, finished=finished)
                self._log.append(resp.entry)
        if self.verbose:  # one line, never a header or a body: they may carry credentials
            took = (finished - req.started) * 1000
            print(f"sandbox: {req.method} {req.path} {resp.status} {took:.0f}ms", file=sys.stderr)

    def _api(self, req: _Request) -> _Response:
        target = route(req.path)
        method = "GET" if req.method == "HEAD" else req.method
        body, problem = _parse_body(req.body)
        entry: dict[str, Any] = {
            "seq": None,
            "request_id": uuid.uuid4().hex,
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "account": target.account,
            "user_id": target.user_id,
            "device_id": target.device_id,
            "body": body,
            "started": req.started,
        }
        headers: dict[str, str] = {}
        retry_after: int | None = None
        if self._latency_ms > 0:  # a float read needs no lock; the sleep must not hold one
            self._stopping.wait(self._latency_ms / 1000)
        if req.error:
            reply = failure(req.error[0], 1000, req.error[1])
        elif target.kind is None:
            reply = failure(404, None, f"No such resource: {req.path}")
        elif method not in _ALLOWED[target.kind]:
            allowed = _ALLOWED[target.kind]
            headers["Allow"] = ", ".join(allowed)
            reply = failure(405, None, f"{req.method} is not allowed here; use {allowed[0]}")
        else:
            with self._lock:
                rule = self._take_rule(method, target)
            if rule is not None and rule.status == "hang":
                # Handled normally after the hang: a client that gave up may still see it done.
                self._stopping.wait(rule.seconds)
                rule = None
            if rule is not None:
                return self._fault(rule, req, entry)
            with self._lock:
                reply, retry_after = self._serve(req, target, body, problem, headers)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        entry.update(
            status=reply.status,
            error_code=reply.error_code,
            description=reply.description,
            retry_after=retry_after,
        )
        wrapped = envelope(reply, req.method, entry["request_id"])
        return _Response(reply.status, json.dumps(wrapped).encode(), headers, entry=entry)

    def _serve(
        self,
        req: _Request,
        target: Target,
        body: Any,
        problem: str | None,
        headers: dict[str, str],
    ) -> tuple[Reply, int | None]:
        """Auth, the rate limit and the API's rules, under the lock: (reply, Retry-After)."""
        assert target.account is not None
        auth = authenticate(self._accounts, target.account, req.authorization)
        if auth.status != 200:
            return auth, None
        account = self._accounts[target.account]
        wait = self._admit(account.sid, headers)
        if wait is not None:
            return failure(429, None, "Too many requests"), wait if self._retry_after else None
        if problem is not None:
            return failure(400, 1000, problem), None
        if target.kind == "device":
            assert target.user_id is not None and target.device_id is not None
            return update_device(account, target.user_id, target.device_id, body), None
        if target.kind == "user":
            assert target.user_id is not None
            return get_user(account, target.user_id), None
        query = dict(parse_qsl(req.query, keep_blank_values=True))
        return list_users(account, query), None

    def _admit(self, sid: str, headers: dict[str, str]) -> int | None:
        """Count a request against its account's limit: None when admitted, else seconds to wait.

        A sliding window: the times of the requests admitted in the last ``per_seconds``.
        """
        rate = self._rates.get(sid)
        if rate is None:
            return None
        now = self.clock()
        window = self._windows.setdefault(sid, deque())
        while window and window[0] <= now - rate.per_seconds:
            window.popleft()
        headers["X-RateLimit-Limit"] = str(rate.count)
        if len(window) >= rate.count:
            headers["X-RateLimit-Remaining"] = "0"
            return max(1, math.ceil(window[0] + rate.per_seconds - now))
        window.append(now)
        headers["X-RateLimit-Remaining"] = str(rate.count - len(window))
        return None

    def _take_rule(self, method: str, target: Target) -> Rule | None:
        """The first rule matching the request, one of its ``times`` used up."""
        for i, rule in enumerate(self._rules):
            if rule.matches(method, target.account, target.user_id, target.device_id):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[i]
                return rule
        return None

    def _fault(self, rule: Rule, req: _Request, entry: dict[str, Any]) -> _Response:
        """The response a fault rule gives instead of handling the request."""
        status = int(rule.status)
        phrase = HTTPStatus(status).phrase
        code = 1004 if status == 500 else None  # the seed page's code for a 500; others have none
        what = "Too many requests" if status == 429 else phrase
        retry_after = rule.retry_after_for(self._retry_after) if status == 429 else None
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        entry.update(status=status, error_code=code, description=what, retry_after=retry_after)
        if rule.body == "html":
            page = _HTML.format(f"{status} {phrase}").encode()
            return _Response(status, page, headers, "text/html", entry)
        wrapped = envelope(failure(status, code, what), req.method, entry["request_id"])
        return _Response(status, json.dumps(wrapped).encode(), headers, entry=entry)

    # -- the control API --------------------------------------------------------------------------

    def _control(self, req: _Request) -> _Response:
        parts = req.path.removeprefix("/_sandbox").strip("/").split("/")
        method = "GET" if req.method == "HEAD" else req.method
        allowed = _CONTROL.get(parts[0])
        if allowed is None or (len(parts) != 4 if parts[0] == "devices" else len(parts) != 1):
            return _json(404, {"error": f"no control call at {req.path}"})
        if method not in allowed:
            return _json(
                405, {"error": f"use {' or '.join(allowed)}"}, {"Allow": ", ".join(allowed)}
            )
        if req.error:
            return _json(req.error[0], {"error": req.error[1]})
        body, problem = _parse_body(req.body)
        if problem is not None:
            return _json(400, {"error": problem})
        try:
            return _json(200, self._control_call(method, parts, body, req.query))
        except ControlError as exc:
            return _json(exc.status, {"error": str(exc)})

    def _control_call(self, method: str, parts: list[str], body: Any, query: str) -> object:
        since = _since(query)
        with self._lock:
            match (method, parts[0]):
                case ("GET", "health"):
                    return {"ok": True}
                case ("GET", "log"):
                    return {"requests": [e for e in self._log if e["seq"] > since]}
                case ("DELETE", "log"):
                    self._log.clear()
                    return {"requests": []}
                case ("GET", "state"):
                    return {
                        "accounts": {
                            sid: {"users": [u.as_json() for u in a.users]}
                            for sid, a in self._accounts.items()
                        }
                    }
                case ("PUT", "devices"):
                    sid, user_id, device_id = (unquote(p) for p in parts[1:])
                    return set_device(self._accounts, sid, user_id, device_id, body)
                case ("PUT", "faults"):
                    changes = parse_faults(body, set(self._accounts))
                    self._latency_ms = changes.get("latency_ms", self._latency_ms)
                    self._retry_after = changes.get("retry_after", self._retry_after)
                    self._rates.update(changes.get("rate_limits", {}))
                    self._rules = changes.get("rules", self._rules)
                    return self._faults_json()
                case ("GET", "faults"):
                    return self._faults_json()
                case ("POST", "reset"):
                    self._reset()
                    return {"ok": True}
        raise AssertionError(f"unrouted control call {method} {parts}")  # pragma: no cover

    def _faults_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self._latency_ms,
            "retry_after": self._retry_after,
            "rate_limits": {sid: str(r) if r else None for sid, r in self._rates.items()},
            "rules": [r.as_json() for r in self._rules],
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung or idle connection never keeps the process alive
    allow_reuse_address = True
    request_queue_size = 128  # bursts of parallel clients are accepted, not refused

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's name (getfqdn), which can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up is not news; anything else is a sandbox bug and is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as pooled clients expect
    server_version = "shiftswitch-sandbox"
    timeout = 60  # an idle keep-alive connection gives its thread back
    # Head and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold the body back about 40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        """Every method goes to one router, which answers 404 or 405 itself."""
        request = self._request()
        sandbox = self.server.sandbox
        try:
            response = sandbox._handle(request)
        except Exception:  # a sandbox bug: show it, and answer rather than drop the client
            traceback.print_exc()
            response = _json(500, {"error": "sandbox bug; see the sandbox's stderr"})
        sandbox._finish(response, request)
        self._write(response)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _request(self) -> _Request:
        started = self.server.sandbox.clock()
        url = urlsplit(self.path)
        body, error = self._read_body()
        auth = self.headers.get("Authorization")
        return _Request(self.command, url.path, url.query, auth, body, started, error)

    def _read_body(self) -> tuple[bytes, tuple[int, str] | None]:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the body was not read; the stream is out of step
            return b"", (411, "Send the body with a Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b"", None
        if not raw.strip().isascii() or not raw.strip().isdigit():
            self.close_connection = True
            return b"", (400, "Bad Content-Length")
        length = int(raw)
        if length > MAX_BODY:
            self.close_connection = True
            return b"", (413, f"The body is over {MAX_BODY} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return body, (400, "The body is shorter than its Content-Length")
        return body, None

    def _write(self, response: _Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:  # the client gave up (a timeout after a hang): nothing to tell it
            self.close_connection = True

    def version_string(self) -> str:
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found before routing (a bad request line, an unknown method): JSON, not HTML."""
        body = json.dumps({"error": message or HTTPStatus(code).phrase}).encode()
        self.close_connection = True
        self._write(_Response(code, body))

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the sandbox logs one line per request itself, when verbose."""
