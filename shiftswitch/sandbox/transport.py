"""The sandbox's HTTP plumbing: a threading server whose handler reads each request whole,
hands it to the :class:`App` (the :class:`~shiftswitch.sandbox.server.Sandbox`) and writes back
the response. Nothing of Exotel's API is here: routing, rules and faults are the app's.
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class Request:
    """A request as read off the connection, body and all."""

    method: str
    path: str
    query: str
    authorization: str | None
    body: bytes
    started: float
    error: tuple[int, str] | None = None  # the body could not be read: (status, why)


@dataclass(slots=True)
class Response:
    """What the app answers; the handler writes it out."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    entry: dict[str, Any] | None = None  # the app's log entry for it (the sandbox's API log)


def json_response(status: int, value: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(value).encode(), headers or {})


def parse_body(body: bytes) -> tuple[Any, str | None]:
    """The body as JSON (None when empty), or the reason it is not JSON."""
    if not body.strip():
        return None, None
    try:
        return json.loads(body.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "The body is not UTF-8 text"
    except (json.JSONDecodeError, RecursionError):
        return None, "The body is not JSON"


class App(Protocol):
    """What the server serves: a request in, a response out."""

    clock: Callable[[], float]  # stamps a request when it arrives

    def handle(self, request: Request) -> Response:
        """The response to ``request``; raising is a bug in the app (answered with a 500)."""
        ...

    def finish(self, response: Response, request: Request) -> None:
        """Called just before ``response`` is written."""
        ...


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung or idle connection never keeps the process alive
    allow_reuse_address = True
    request_queue_size = 128  # bursts of parallel clients are accepted, not refused

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's name (getfqdn), which can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up is not news; anything else is a sandbox bug and is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            traceback.print_exc()


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive, as pooled clients expect
    server_version = "shiftswitch-sandbox"
    timeout = 60  # an idle keep-alive connection gives its thread back
    # Head and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold the body back about 40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        """Every method goes to one router, which answers 404 or 405 itself."""
        request = self._request()
        app = self.server.app
        try:
            response = app.handle(request)
        except Exception:  # a sandbox bug: show it, and answer rather than drop the client
            traceback.print_exc()
            response = json_response(500, {"error": "sandbox bug; see the sandbox's stderr"})
        app.finish(response, request)
        self._write(response)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _request(self) -> Request:
        started = self.server.app.clock()
        url = urlsplit(self.path)
        body, error = self._read_body()
        auth = self.headers.get("Authorization")
        return Request(self.command, url.path, url.query, auth, body, started, error)

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

    def _write(self, response: Response) -> None:
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
        self._write(Response(code, body))

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the sandbox logs one line per request itself, when verbose."""
