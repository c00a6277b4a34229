"""The sandbox's control API under ``/_sandbox/`` (README: The sandbox): its calls and their
methods, the ``since`` that the log and counts calls read from their query, and the counts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from shiftswitch.sandbox.faults import ControlError

CONTROL = {  # each call, by its first path segment, and its methods
    "health": ("GET",),
    "log": ("GET", "DELETE"),
    "counts": ("GET",),
    "state": ("GET",),
    "faults": ("GET", "PUT"),
    "reset": ("POST",),
    "devices": ("PUT",),
}


def since(query: str) -> int:
    """``GET /_sandbox/log?since=N``: only the entries after seq N, for cheap polling."""
    text = dict(parse_qsl(query)).get("since", "0")
    if not (text.isascii() and text.isdigit()):
        raise ControlError("since: expected a log seq, such as 0")
    return int(text)


def counts(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``GET /_sandbox/counts``: the logged API requests counted by method and status, and by
    method for each device (``"<sid>/<user>/<device>"``) and each user (``"<sid>/<user>"``)."""
    total = 0
    methods: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    devices: dict[str, Counter[str]] = defaultdict(Counter)
    users: dict[str, Counter[str]] = defaultdict(Counter)
    for e in entries:
        total += 1
        methods[e["method"]] += 1
        statuses[str(e["status"])] += 1
        if e["user_id"] is not None:
            users[f"{e['account']}/{e['user_id']}"][e["method"]] += 1
        if e["device_id"] is not None:
            devices[f"{e['account']}/{e['user_id']}/{e['device_id']}"][e["method"]] += 1
    return {
        "requests": total,
        "methods": dict(methods),
        "statuses": dict(statuses),
        "devices": {k: dict(v) for k, v in devices.items()},
        "users": {k: dict(v) for k, v in users.items()},
    }
