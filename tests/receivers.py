"""In-process twins of where notifications go: a JSON webhook (Apprise's ``json://``) and an
SMTP server (``mailto://``), each on a free loopback port, keeping what they received."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class Webhook:
    """A JSON webhook: each POST's body and headers kept; ``fail`` first answers 500 that many
    times."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = 0
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hook._lock:
                    failing = hook.fail > 0
                    hook.fail -= failing
                    if not failing:
                        hook.received.append(
                            {
                                "path": self.path,
                                "body": json.loads(body or b"{}"),
                                "authorization": self.headers.get("Authorization"),
                            }
                        )
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, user: str = "hook", password: str = "hook-secret-4f1c") -> str:  # noqa: S107
        return f"json://{user}:{password}@127.0.0.1:{self.port}/notify"

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.received]


@contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook._thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.mail: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.mail.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@contextmanager
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on a free port: (its mailbox, its port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
