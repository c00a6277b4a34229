"""One message through Apprise (README: Notifications): its URL never leaves this function,
and what Apprise says of a failure comes back with every part of the URL blotted out."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

import apprise

TIMEOUT = 10.0  # seconds Apprise waits for a service's answer
CONNECT_TIMEOUT = 5.0  # and to connect to it
# Apprise's own log lines may name a URL's host or user: they are taken here, never printed.
logging.getLogger("apprise").propagate = False
logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)


def send(url: str, title: str, body: str, recipient: str | None = None) -> str | None:
    """Send ``title`` and ``body`` to ``url`` (to ``recipient``, an e-mail address, for a
    ``mailto`` URL); None when it went, else why not (with nothing of the URL in it)."""
    target = url
    for name, seconds in (("cto", CONNECT_TIMEOUT), ("rto", TIMEOUT)):  # Apprise's timeouts
        if f"{name}=" not in target:
            target = f"{target}{'&' if '?' in target else '?'}{name}={seconds:g}"
    if recipient is not None:
        target = f"{target}&to={quote(recipient, safe='@')}"
    notifier = apprise.Apprise()
    if not notifier.add(target):
        return "the channel's URL is not one Apprise knows (check its scheme)"
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        try:
            sent = notifier.notify(title=title, body=body)
        except Exception as exc:
            return blot(f"{type(exc).__name__}: {exc}", url, recipient)
    if sent:
        return None
    said = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line]
    return blot("; ".join(said[:3]) or "the service refused the message", url, recipient)


def blot(text: str, url: str, recipient: str | None = None) -> str:
    """``text`` with every part of ``url`` (user, password, host, path pieces, query values)
    of three characters or more, and the ``recipient``'s address, replaced by ``***``, in any
    case."""
    parts = {p for p in re.split(r"[:/@?&=#.]+", url) if len(p) >= 3}
    parts |= {unquote(p) for p in parts}
    if recipient:
        parts.add(recipient)
    parts -= {"json", "jsons", "mailto", "mailtos", "http", "https", "com", "org", "net"}
    for part in sorted(parts, key=len, reverse=True):
        text = re.sub(re.escape(part), "***", text, flags=re.IGNORECASE)
    return text[:500]
