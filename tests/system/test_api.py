"""The HTTP API as a real ``shiftswitch api`` process, with a real worker and the sandbox: an
on-demand switch made through it reaches Exotel's stand-in, and its result comes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from shiftswitch.access import AccessStore, Role
from shiftswitch.db import make_engine
from tests.pipeline import API_TOKEN, Pipeline, kill, spawn_api, wait_until


def test_device_on_with_wait_switches_the_sandbox_device(handoff_pipeline: Pipeline) -> None:
    p = handoff_pipeline
    p.start_worker()
    engine = make_engine(p.database_url)
    token = AccessStore(engine).create_token(
        "wfm", Role.OPERATOR, expires_at=None, by="tests", now=datetime.now(UTC)
    )
    engine.dispose()
    log = p.tmp / "api.log"
    proc, url = spawn_api(p.env, log)
    auth = {"Authorization": f"Bearer {token}"}
    until = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    try:
        reply = requests.post(
            f"{url}/api/v1/agents/asha/devices/desk/on",
            json={"wait": True, "timeout": 30, "until": until},
            headers=auth,
            timeout=40,
        )
        assert reply.status_code == 200, reply.text
        action = reply.json()
        assert (action["status"], action["source"], action["http_code"]) == (
            "succeeded",
            "manual",
            200,
        )
        assert p.device("u-100", "100280")["available"] is True

        status = requests.get(f"{url}/api/v1/status", headers=auth, timeout=10).json()
        assert [(s["agent"], s["device"]) for s in status["on"]] == [("asha", "desk")]
        assert [(h["agent"], h["device"], h["by"]) for h in status["holds"]] == [
            ("asha", "desk", "token wfm (api)")
        ]

        # Without waiting: 202 and the action queued; the worker then turns the device OFF.
        reply = requests.post(
            f"{url}/api/v1/agents/asha/devices/desk/off", headers=auth, timeout=10
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["status"] == "queued"
        wait_until(lambda: p.device("u-100", "100280")["available"] is False, 30, "desk OFF")

        refused = requests.get(f"{url}/api/v1/status", timeout=10)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    finally:
        kill(proc)
    logged = log.read_text(errors="replace")
    assert token not in logged and API_TOKEN not in logged
