"""A local stand-in for Exotel's CCM v2 Users API, for tests, demos and rehearsals (README: The
sandbox).

It serves the device PUT and the user GETs with Exotel's envelope and rules
(:mod:`shiftswitch.sandbox.state`), with a per-account rate limit (per window, or strict: per
request, as nginx's limit_req with no burst), latency with jitter and faults that can be
changed while it runs, and keeps a log of every API request (the HTTP server underneath is
:mod:`shiftswitch.sandbox.transport`). A control API under ``/_sandbox/``
(no auth; JSON in and out) reads the log, its counts and the state, changes devices behind the
API's back (now, or later as an agent in Exotel's app would), sets faults and resets everything
to the seed::

    sandbox = Sandbox(load_seed("sandbox.yaml"), port=0).start()
    requests.put(f"{sandbox.url}/v2/accounts/acme_corp/users/u-100/devices/100280",
                 json={"available": True}, auth=("demo-key", "demo-token"))
    sandbox.stop()
"""

from __future__ import annotations

import json
import math
import random
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from shiftswitch.pacing import RateLimit
from shiftswitch.sandbox import control
from shiftswitch.sandbox.faults import AppChange, ControlError, Rule, parse_faults, set_device
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
from shiftswitch.sandbox.state import RATE_MODES, Account, Seed, SeedError
from shiftswitch.sandbox.transport import Request, Response, Server, json_response, parse_body

__all__ = ["DEFAULT_PORT", "Sandbox", "Seed", "SeedError", "load_seed", "parse_seed"]

DEFAULT_PORT = 8090
MAX_LOG = 100_000  # log entries kept (the newest): a long rehearsal must not grow without end
_ALLOWED = {"users": ("GET",), "user": ("GET",), "device": ("PUT",)}
_HTML = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class Sandbox:
    """An HTTP server that speaks Exotel's Users API over the accounts of a :class:`Seed`.

    ``clock`` stamps the log and drives the rate limits, so tests can move time on; latency,
    its jitter and hangs are real sleeps. Each API request waits ``latency_ms`` plus a random
    part of ``jitter_ms`` (uniform) before anything else, the rate limit included, as a network
    would delay it on its way in. ``rate_mode`` (``window`` or ``strict``) applies to every
    account; None leaves each its seed's.
    """

    def __init__(
        self,
        seed: Seed,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        rate_mode: str | None = None,
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
    ) -> None:
        if rate_mode is not None and rate_mode not in RATE_MODES:
            raise ValueError(f"rate_mode: expected {' or '.join(RATE_MODES)}, not {rate_mode!r}")
        self.seed = seed
        self.host = host
        self.port = port
        self.clock = clock
        self.verbose = verbose
        self._initial_latency_ms = latency_ms
        self._initial_jitter_ms = jitter_ms
        self._initial_mode = rate_mode
        self._random = random.Random()  # noqa: S311 - a network's jitter, not a secret
        # One lock over the accounts, the log, the faults and the rate windows. Nothing sleeps
        # while holding it, so latency and hangs overlap across requests.
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # cuts latency and hangs short on stop()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._bound_port = port  # the port last bound: a free one when asked for port 0
        self._seq = 0  # never restarts, not even on reset, so ?since= polling stays right
        self._reset()

    def _reset(self) -> None:
        self._accounts: dict[str, Account] = self.seed.fresh()
        self._log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG)
        self._latency_ms = self._initial_latency_ms
        self._jitter_ms = self._initial_jitter_ms
        self._retry_after = True
        self._rates: dict[str, RateLimit | None] = {
            sid: a.rate_limit for sid, a in self._accounts.items()
        }
        self._modes: dict[str, str] = {
            sid: self._initial_mode or a.rate_mode for sid, a in self._accounts.items()
        }
        self._last: dict[str, float] = {}  # strict mode: each account's last request let through
        self._rules: list[Rule] = []
        self._app_changes: list[AppChange] = []  # in time order
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

    def _bind(self) -> Server:
        if self._server is not None:
            raise RuntimeError(f"the sandbox is already serving at {self.url}")
        self._stopping.clear()
        self._server = Server((self.host, self.port), self)
        self._bound_port = int(self._server.server_address[1])
        return self._server

    # -- requests ---------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """The response to one request: the control API under ``/_sandbox/``, else Exotel's."""
        if req.path == "/_sandbox" or req.path.startswith("/_sandbox/"):
            return self._control(req)
        return self._api(req)

    def finish(self, resp: Response, req: Request) -> None:
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

    def _api(self, req: Request) -> Response:
        target = route(req.path)
        method = "GET" if req.method == "HEAD" else req.method
        body, problem = parse_body(req.body)
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
        # Floats read without the lock; the sleep must not hold it.
        delay_ms = self._latency_ms + self._random.uniform(0, self._jitter_ms)
        if delay_ms > 0:
            self._stopping.wait(delay_ms / 1000)
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
                rule = self._take_rule(method, target, body)
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
        return Response(reply.status, json.dumps(wrapped).encode(), headers, entry=entry)

    def _serve(
        self,
        req: Request,
        target: Target,
        body: Any,
        problem: str | None,
        headers: dict[str, str],
    ) -> tuple[Reply, int | None]:
        """Auth, the rate limit and the API's rules, under the lock: (reply, Retry-After)."""
        assert target.account is not None
        self._apply_app_changes()
        auth = authenticate(self._accounts, target.account, req.authorization)
        if auth.status != 200:
            return auth, None
        account = self._accounts[target.account]
        admitted, wait = self._admit(account.sid, headers)
        if not admitted:
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

    def _admit(self, sid: str, headers: dict[str, str]) -> tuple[bool, int | None]:
        """Count a request against its account's limit: whether it is let through, and when
        refused, the Retry-After to send (None: none).

        ``window``: a sliding window, the times of the requests let through in the last
        ``per_seconds``; a refusal says when the oldest leaves it. ``strict``: refused when
        closer than ``1/rate`` to the last request let through, with no Retry-After (as nginx's
        limit_req with no burst, which sends none).
        """
        rate = self._rates.get(sid)
        if rate is None:
            return True, None
        now = self.clock()
        headers["X-RateLimit-Limit"] = str(rate.count)
        if self._modes.get(sid) == "strict":
            last = self._last.get(sid)
            if last is not None and now - last < rate.per_seconds / rate.count:
                headers["X-RateLimit-Remaining"] = "0"
                return False, None
            self._last[sid] = now
            headers["X-RateLimit-Remaining"] = "0"  # none more before 1/rate has passed
            return True, None
        window = self._windows.setdefault(sid, deque())
        while window and window[0] <= now - rate.per_seconds:
            window.popleft()
        if len(window) >= rate.count:
            headers["X-RateLimit-Remaining"] = "0"
            return False, max(1, math.ceil(window[0] + rate.per_seconds - now))
        window.append(now)
        headers["X-RateLimit-Remaining"] = str(rate.count - len(window))
        return True, None

    def _take_rule(self, method: str, target: Target, body: Any) -> Rule | None:
        """The first rule matching the request, one of its ``times`` used up."""
        for i, rule in enumerate(self._rules):
            if rule.matches(method, target.account, target.user_id, target.device_id, body):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[i]
                return rule
        return None

    def _apply_app_changes(self) -> None:
        """Make the app changes whose time has come, oldest first; under the lock.

        Made when the state is next read or changed: nobody can tell them from changes made
        on the dot, and a request handled after an app change's time sees it.
        """
        now = self.clock()
        while self._app_changes and self._app_changes[0].at <= now:
            change = self._app_changes.pop(0)
            fields = dict(change.fields)
            set_device(self._accounts, change.account, change.user_id, change.device_id, fields)

    def _fault(self, rule: Rule, req: Request, entry: dict[str, Any]) -> Response:
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
            return Response(status, page, headers, "text/html", entry)
        wrapped = envelope(failure(status, code, what), req.method, entry["request_id"])
        return Response(status, json.dumps(wrapped).encode(), headers, entry=entry)

    # -- the control API --------------------------------------------------------------------------

    def _control(self, req: Request) -> Response:
        parts = req.path.removeprefix("/_sandbox").strip("/").split("/")
        method = "GET" if req.method == "HEAD" else req.method
        allowed = control.CONTROL.get(parts[0])
        if allowed is None or (len(parts) != 4 if parts[0] == "devices" else len(parts) != 1):
            return json_response(404, {"error": f"no control call at {req.path}"})
        if method not in allowed:
            return json_response(
                405, {"error": f"use {' or '.join(allowed)}"}, {"Allow": ", ".join(allowed)}
            )
        if req.error:
            return json_response(req.error[0], {"error": req.error[1]})
        body, problem = parse_body(req.body)
        if problem is not None:
            return json_response(400, {"error": problem})
        try:
            return json_response(200, self._control_call(method, parts, body, req.query))
        except ControlError as exc:
            return json_response(exc.status, {"error": str(exc)})

    def _control_call(self, method: str, parts: list[str], body: Any, query: str) -> object:
        since = control.since(query)
        with self._lock:
            self._apply_app_changes()
            match (method, parts[0]):
                case ("GET", "health"):
                    return {"ok": True}
                case ("GET", "log"):
                    return {"requests": [e for e in self._log if e["seq"] > since]}
                case ("GET", "counts"):
                    return control.counts(e for e in self._log if e["seq"] > since)
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
                    changes = parse_faults(body, self._accounts, self.clock())
                    self._latency_ms = changes.get("latency_ms", self._latency_ms)
                    self._jitter_ms = changes.get("jitter_ms", self._jitter_ms)
                    self._modes.update(changes.get("rate_modes", {}))
                    self._retry_after = changes.get("retry_after", self._retry_after)
                    self._rates.update(changes.get("rate_limits", {}))
                    self._rules = changes.get("rules", self._rules)
                    self._app_changes = changes.get("app_changes", self._app_changes)
                    return self._faultsjson_response()
                case ("GET", "faults"):
                    return self._faultsjson_response()
                case ("POST", "reset"):
                    self._reset()
                    return {"ok": True}
        raise AssertionError(f"unrouted control call {method} {parts}")  # pragma: no cover

    def _faultsjson_response(self) -> dict[str, Any]:
        return {
            "latency_ms": self._latency_ms,
            "jitter_ms": self._jitter_ms,
            "retry_after": self._retry_after,
            "rate_limits": {sid: str(r) if r else None for sid, r in self._rates.items()},
            "rate_modes": dict(self._modes),
            "rules": [r.as_json() for r in self._rules],
            "app_changes": [c.as_json() for c in self._app_changes],
        }
