"""A loopback HTTP server that answers what each test scripts: a test double of the network
only (the client under test opens real sockets, sends real requests and reads real, sometimes
broken, responses)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEVICE = {
    "id": 100280,
    "name": "Primary Device",
    "contact_uri": "+919176220000",
    "type": "tel",
    "available": True,
    "verified": True,
    "status": "free",
}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes go as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before anything is sent, or after part of the body if ``truncate``
    truncate: bool = False  # announce more body than is sent, then close


@dataclass
class Seen:
    method: str
    path: str  # raw, query included
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


class FakeExotel:
    """A loopback HTTP server; ``respond`` maps each request to the reply a test wants."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this context (its certificate and key)."""
        self.reset()
        self.tls = tls
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer()

            def do_PUT(self) -> None:
                self.answer()

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, self.path, headers, self.rfile.read(length))
                fake.seen.append(seen)
                reply = fake.respond(seen)
                raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
                raw = raw.encode() if isinstance(raw, str) else raw
                if reply.delay and not reply.truncate:
                    fake.stop.wait(reply.delay)
                self.send_response(reply.status)
                headers = {"content-type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(raw) + (100 if reply.truncate else 0)))
                self.end_headers()
                self.wfile.write(raw)
                self.wfile.flush()
                if reply.truncate:
                    fake.stop.wait(reply.delay)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A client that timed out leaves a broken pipe behind: expected, not worth a traceback.
        self.httpd.handle_error = lambda *_: None  # type: ignore[method-assign]
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        serve = {"poll_interval": 0.05}  # shutdown() waits up to one interval
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=serve, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.seen: list[Seen] = []
        self.respond: Callable[[Seen], Reply] = lambda _: Reply(body=envelope(DEVICE))
        self.stop = threading.Event()  # set to wake a handler still stalling for a past test

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def envelope(data: Any, *, http: int = 200, status: str = "success", error: Any = None) -> Any:
    return {
        "request_id": "6b99d8f854244f1eb8bb91d75f1c565a",
        "method": "PUT",
        "http_code": http,
        "response": {"code": http, "error_data": error, "status": status, "data": data},
    }


def failure(http: int, code: Any, description: str) -> Any:
    error = {"code": code, "description": description, "message": description}
    return envelope(None, http=http, status="failure", error=error)
