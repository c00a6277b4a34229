"""Logging for the long-running processes: ``key=value`` text, or one JSON object per line.

The events that matter (a switch's result, an HTTP attempt, a tick, a reconcile, a roster put
in force or refused) are logged through :func:`event`, with a stable event name and fields.
As text they read ``switched action=12 agent=asha ... status=succeeded``; with
``SHIFTSWITCH_LOG_FORMAT=json`` each is ``{"ts": ..., "level": ..., "logger": ...,
"event": "switched", "message": ..., "action": 12, "agent": "asha", ...}``, so a log pipeline
can filter on fields without parsing text. Field names and event names are part of the
interface: add, never rename.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FORMATS = ("text", "json")


def event(logger: logging.Logger, level: int, name: str, /, **fields: Any) -> None:
    """Log event ``name`` with ``fields``: as ``name k=v ...`` text, the fields kept apart."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join([name, *(f"{k}={_value_text(v)}" for k, v in fields.items())])
    logger.log(level, "%s", text, extra={"event": name, "fields": fields})


def _value_text(value: Any) -> str:
    text = str(value)
    return repr(text) if (not text or any(c.isspace() or c in "'\"=" for c in text)) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, message, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        name = getattr(record, "event", None)
        if name is not None:
            out["event"] = name
        out["message"] = record.getMessage()
        for key, value in getattr(record, "fields", {}).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` (``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Connection pools and HTTP libraries log URLs; they never carry credentials (Basic auth
    # travels in a header), but a line per request drowns what matters.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
