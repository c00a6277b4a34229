"""The HTTP API in this process, for the API's integration tests: the application over a real
PostgreSQL database and a real Redis database, on a fixed clock, with a stored roster whose
account is an in-process sandbox, and users and tokens of every role.

One :class:`ApiWorld` serves a whole test module (building it costs a second or two); tests
that change what others see (a pause, the failure counts of the login throttle) put it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import Engine, MetaData, select

from shiftswitch.access import AccessStore, Role
from shiftswitch.access.throttle import PREFIX as THROTTLE_PREFIX
from shiftswitch.api.deps import Services
from shiftswitch.broker import QUEUE
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.sandbox.seed import parse_seed
from shiftswitch.sandbox.server import Sandbox
from shiftswitch.server import create_app
from shiftswitch.settings import Settings
from shiftswitch.sources.store import RosterStore
from tests.pipeline import roster_yaml, user
from tests.services import COORDINATION_REDIS_DB, MigratedPostgres, redis_url

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday, in the morning shift
PASSWORD = "correct-horse-battery-9f3e"  # every test user's: looked for in logs and tables
EXOTEL_KEY = "exotel-key-1b7c-never-shown"
EXOTEL_TOKEN = "exotel-token-8d2a-never-shown"
EXOTEL_ENV = {"EXOTEL_MAIN_API_KEY": EXOTEL_KEY, "EXOTEL_MAIN_API_TOKEN": EXOTEL_TOKEN}

AGENTS: Mapping[str, tuple[str | None, Mapping[str, str]]] = {
    "asha": ("u-100", {"desk": "100280", "mobile": "100282"}),
    "ravi": ("u-101", {"desk": "100281"}),
}
SHIFTS = [
    {"name": "day", "start": "0 9 * * mon-fri", "duration": "9h", "members": ["asha:desk"]},
    {"name": "late", "start": "0 14 * * mon-fri", "duration": "8h", "members": ["ravi"]},
]
USERS = {"vera": Role.VIEWER, "otto": Role.OPERATOR, "ada": Role.ADMIN}


def roster(base_url: str, shifts: list[dict[str, Any]] = SHIFTS) -> str:
    return roster_yaml(base_url, AGENTS, shifts)


@dataclass
class ApiWorld:
    client: TestClient  # no credentials of its own: give headers, or use a login's client
    engine: Engine
    redis: Redis
    clock: FixedClock
    sandbox: Sandbox
    services: Services
    tokens: dict[Role, str] = field(default_factory=dict)
    tables: MetaData = field(default_factory=MetaData)  # every table, read from the database

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: Role = Role.VIEWER, **kw: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.auth(role), **kw)

    def post(self, path: str, role: Role = Role.OPERATOR, **kw: Any) -> Any:
        return self.client.post(
            f"/api/v1{path}", headers={**self.auth(role), **kw.pop("headers", {})}, **kw
        )

    def queued(self) -> int:
        """Messages waiting in the broker's queue."""
        return int(self.redis.llen(QUEUE))

    def forget_failures(self) -> None:
        """Clear the login throttle's counts and lock-outs."""
        for key in self.redis.scan_iter(f"{THROTTLE_PREFIX}*"):
            self.redis.delete(key)

    def login(
        self, name: str, password: str = PASSWORD, address: str = "198.51.100.1"
    ) -> tuple[TestClient, str]:
        """A browser of its own, logged in as ``name``: (its client, the session's CSRF token)."""
        browser = TestClient(self.client.app, client=(address, 50000))
        answer = browser.post("/api/v1/login", json={"name": name, "password": password})
        assert answer.status_code == 200, answer.text
        return browser, answer.json()["csrf_token"]

    def dump(self) -> str:
        """Every row of every table, as text: to search for what must not be stored."""
        if not self.tables.tables:
            self.tables.reflect(self.engine)
        meta = self.tables
        with self.engine.connect() as conn:
            return json.dumps(
                {
                    t.name: [list(map(str, r)) for r in conn.execute(select(t))]
                    for t in meta.sorted_tables
                }
            )


@pytest.fixture(scope="module", name="world")
def world_fixture(
    _migrated_postgres: MigratedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiWorld]:
    """``world``: the API of a test module (import this fixture into the module)."""
    with api_world(_migrated_postgres.empty(), tmp_path_factory.mktemp("api")) as w:
        yield w


@contextmanager
def api_world(postgres_url: str, tmp_path: Path) -> Iterator[ApiWorld]:
    redis = Redis.from_url(redis_url(COORDINATION_REDIS_DB))
    try:
        redis.ping()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    redis.flushdb()
    seed = {
        "accounts": {
            "acme_corp": {
                "api_key": EXOTEL_KEY,
                "api_token": EXOTEL_TOKEN,
                "users": [
                    user(
                        "u-100",
                        ("100280", "desk", "+919900000280"),
                        ("100282", "mobile", "+919900000282"),
                    ),
                    user("u-101", ("100281", "desk", "+919900000281")),
                ],
            }
        }
    }
    sandbox = Sandbox(parse_seed(seed), port=0).start()
    engine = make_engine(postgres_url)
    clock = FixedClock(NOW)
    RosterStore(engine).write(
        lambda _before: roster(sandbox.url), source="setup", by="setup", now=NOW
    )
    settings = Settings(
        database_url=postgres_url,
        redis_url=redis_url(COORDINATION_REDIS_DB),
        roster_path=str(tmp_path / "unused.yaml"),
        roster_source="db",
    )
    app = create_app(settings, clock)
    services: Services = app.state.services
    # Cheap hashing: the tests log in often; the parameters are the store's business.
    services.access = AccessStore(
        services.ops.engine, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    world = ApiWorld(TestClient(app), engine, redis, clock, sandbox, services)
    for name, role in USERS.items():
        services.access.add_user(name, role, PASSWORD, by="setup", now=NOW)
        world.tokens[role] = services.access.create_token(
            f"{role}-system", role, expires_at=None, by="setup", now=NOW
        )
    try:
        yield world
    finally:
        sandbox.stop()
        services.ops.engine.dispose()
        engine.dispose()
        redis.flushdb()
        redis.close()
