"""The API as a server is set up: which hosts it answers to, and what it says when the roster
in force cannot be had (the server's state, not the caller's mistake)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from shiftswitch.access import AccessStore, Role
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.server import create_app
from shiftswitch.settings import Settings
from tests.services import COORDINATION_REDIS_DB, redis_url

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _app(
    tmp_path: Path, sqlite_url: str, roster: str, allowed_hosts: tuple[str, ...] = ("*",)
) -> tuple[TestClient, dict[str, str]]:
    path = tmp_path / "schedules.yaml"
    path.write_text(roster)
    settings = Settings(
        database_url=sqlite_url, redis_url=redis_url(COORDINATION_REDIS_DB), roster_path=str(path)
    )
    engine = make_engine(sqlite_url)
    token = AccessStore(engine).create_token("t", Role.VIEWER, expires_at=None, by="tests", now=NOW)
    engine.dispose()
    client = TestClient(create_app(settings, FixedClock(NOW), allowed_hosts=allowed_hosts))
    return client, {"Authorization": f"Bearer {token}"}


def test_an_invalid_roster_in_force_is_the_servers_state_503(
    tmp_path: Path, sqlite_url: str
) -> None:
    client, auth = _app(tmp_path, sqlite_url, "version: 1\ntimezone: Mars/Olympus\n")
    for path in ("/api/v1/status", "/api/v1/plan", "/api/v1/agents/asha"):
        answer = client.get(path, headers=auth)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json()["error"].startswith("no roster in force: "), answer.text
        assert "roster validate" in answer.json()["error"]


def test_a_server_on_loopback_answers_only_loopback_host_names(
    tmp_path: Path, sqlite_url: str
) -> None:
    client, auth = _app(
        tmp_path, sqlite_url, "version: 1\n", allowed_hosts=("127.0.0.1", "localhost")
    )
    rebound = client.get("/api/v1/me", headers={**auth, "host": "attacker.example"})
    assert rebound.status_code == 400
    assert client.get("/api/v1/me", headers={**auth, "host": "127.0.0.1:8000"}).status_code == 200
