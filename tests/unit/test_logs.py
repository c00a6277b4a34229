"""Log events: key=value text, or JSON lines with stable fields."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shiftswitch.logs import JsonFormatter, event


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("shiftswitch.test-logs")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream, handler


def test_an_event_as_text_quotes_values_with_spaces(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = captured
    event(logger, logging.INFO, "switched", action=12, agent="asha", reason="Exotel refused: 403")
    assert stream.getvalue().strip() == "switched action=12 agent=asha reason='Exotel refused: 403'"


def test_an_event_as_json_keeps_its_fields(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(JsonFormatter())
    event(logger, logging.WARNING, "switched", action=12, agent="asha", status="failed", http=None)
    logger.info("plain %s", "line")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "switched" and first["level"] == "warning"
    assert (first["action"], first["agent"], first["status"], first["http"]) == (
        12,
        "asha",
        "failed",
        None,
    )
    assert first["ts"].endswith("+00:00") and first["logger"] == "shiftswitch.test-logs"
    assert second == {k: second[k] for k in ("ts", "level", "logger", "message")}
    assert second["message"] == "plain line"
