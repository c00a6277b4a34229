"""Who may use the HTTP API, over real PostgreSQL and Redis: console logins and their sessions,
CSRF on every change a session makes, guessing slowed down, users and tokens managed by an
admin, tokens shown once and stored hashed, and no secret in any answer, log line or table."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from shiftswitch.access import Role
from shiftswitch.api.deps import CSRF_HEADER, SESSION_COOKIE
from shiftswitch.models import Pause
from tests.api import (
    EXOTEL_ENV,
    EXOTEL_KEY,
    EXOTEL_TOKEN,
    NOW,
    PASSWORD,
    ApiWorld,
    world_fixture,  # noqa: F401 - the module's fixture, world
)


@pytest.fixture(autouse=True)
def _forgets_failures(world: ApiWorld) -> Iterator[None]:
    yield
    world.forget_failures()


def error(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert isinstance(answer.json()["error"], str), answer.json()
    return str(answer.json()["error"])


def browser(world: ApiWorld, address: str) -> TestClient:
    return TestClient(world.client.app, client=(address, 50000))


# -- console sessions ---------------------------------------------------------------------------


def test_a_login_opens_a_session_with_safe_cookie_flags_and_logout_ends_it(
    world: ApiWorld,
) -> None:
    client = browser(world, "198.51.100.10")
    answer = client.post("/api/v1/login", json={"name": "vera", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "vera" and answer.json()["role"] == "viewer"
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json() == {
        "name": "vera",
        "role": "viewer",
        "via": "session",
        "csrf_token": answer.json()["csrf_token"],
    }
    assert client.get("/api/v1/status").status_code == 200  # a read needs no CSRF token
    csrf = {CSRF_HEADER: answer.json()["csrf_token"]}
    assert "this needs operator" in error(client.post("/api/v1/pause", headers=csrf), 403)
    assert client.post("/api/v1/logout", headers=csrf).status_code == 200
    client.cookies.set(SESSION_COOKIE, answer.cookies[SESSION_COOKIE])  # kept, though ended
    assert "your session is over" in error(client.get("/api/v1/me"), 401)


@pytest.mark.parametrize(
    ("body", "status", "start"),
    [
        ({"name": "vera", "password": "wrong password!"}, 401, "wrong name or password"),
        ({"name": "nobody", "password": PASSWORD}, 401, "wrong name or password"),
        ({"name": "vera", "password": ""}, 401, "wrong name or password"),
        ({"name": "vera"}, 400, "password: "),
        ({"name": "v" * 65, "password": PASSWORD}, 400, "name: "),
        ({"name": "vera", "password": PASSWORD, "remember": True}, 400, "remember: "),
        ({"name": "ve\x00ra", "password": PASSWORD}, 400, "a value in the request"),
    ],
)
def test_a_bad_login_is_refused(
    world: ApiWorld, body: dict[str, Any], status: int, start: str
) -> None:
    answer = browser(world, "198.51.100.11").post("/api/v1/login", json=body)
    assert error(answer, status).startswith(start)
    assert SESSION_COOKIE not in answer.cookies


def test_a_sessions_changes_need_its_csrf_token(world: ApiWorld) -> None:
    client, csrf = world.login("otto", address="198.51.100.12")
    _, other_csrf = world.login("otto", address="198.51.100.12")
    for headers in ({}, {CSRF_HEADER: "forged"}, {CSRF_HEADER: other_csrf}, {CSRF_HEADER: ""}):
        refused = client.post("/api/v1/pause", json={}, headers=headers)
        assert "CSRF token" in error(refused, 403)
        assert client.delete("/api/v1/overrides/1", headers=headers).status_code == 403
    with Session(world.engine) as session:
        assert session.scalars(select(Pause)).all() == []
    paused = client.post("/api/v1/pause", json={}, headers={CSRF_HEADER: csrf})
    assert paused.status_code == 200, paused.text
    with Session(world.engine) as session:
        assert session.scalars(select(Pause)).one().paused_by == "otto (api)"
    world.clock.advance(timedelta(seconds=1))
    try:
        resumed = client.post("/api/v1/resume", json={}, headers={CSRF_HEADER: csrf})
    finally:
        world.clock.set(NOW)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["resumed"][0]["by"] == "otto (api)"


def test_a_session_records_its_user_as_the_author(world: ApiWorld) -> None:
    client, csrf = world.login("otto", address="198.51.100.13")
    body = {"agent": "asha", "off": True, "from": "2026-12-24", "to": "2026-12-27"}
    added = client.post("/api/v1/overrides", json=body, headers={CSRF_HEADER: csrf})
    assert added.status_code == 201, added.text
    assert world.get("/roster/versions").json()[-1]["by"] == "otto (api)"
    on = client.post(
        "/api/v1/agents/asha/devices/desk/on",
        json={"until": "2026-11-30T20:00"},
        headers={CSRF_HEADER: csrf},
    )
    assert on.status_code == 202, on.text
    holds = world.get("/agents/asha").json()["holds"]
    assert [h["by"] for h in holds] == ["otto (api)"]


# -- guessing -----------------------------------------------------------------------------------


def test_repeated_failed_logins_are_slowed_even_for_the_right_password(world: ApiWorld) -> None:
    client = browser(world, "203.0.113.7")
    for _ in range(5):
        wrong = client.post("/api/v1/login", json={"name": "ada", "password": "guess-" * 3})
        error(wrong, 401)
    right = client.post("/api/v1/login", json={"name": "ada", "password": PASSWORD})
    assert "too many failed attempts" in error(right, 429)
    assert int(right.headers["retry-after"]) >= 1
    assert SESSION_COOKIE not in right.cookies
    # the address is locked for every name; the name is not locked from elsewhere, so
    # nobody can keep a user out by failing to log in as them
    error(client.post("/api/v1/login", json={"name": "vera", "password": PASSWORD}), 429)
    login = {"name": "ada", "password": PASSWORD}
    assert browser(world, "203.0.113.8").post("/api/v1/login", json=login).status_code == 200
    world.forget_failures()
    assert client.post("/api/v1/login", json=login).status_code == 200


def test_logins_sent_at_once_are_counted_before_any_password_is_checked(world: ApiWorld) -> None:
    client = browser(world, "203.0.113.11")
    wrong = {"name": "ada", "password": "guess-" * 3}
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda _: client.post("/api/v1/login", json=wrong).status_code, range(24))
        )
    assert sorted(set(codes)) == [401, 429], codes
    assert codes.count(401) <= 5, codes  # the rest never reached the password check
    world.forget_failures()


def test_successful_logins_from_one_address_never_lock_it(world: ApiWorld) -> None:
    client = browser(world, "203.0.113.12")
    login = {"name": "ada", "password": PASSWORD}
    for _ in range(8):  # an office behind one address, many people logging in
        assert client.post("/api/v1/login", json=login).status_code == 200


def test_repeated_bad_tokens_are_slowed(world: ApiWorld) -> None:
    client = browser(world, "203.0.113.9")
    for n in range(5):
        bad = {"Authorization": f"Bearer ssw_guess{n}"}
        error(client.get("/api/v1/status", headers=bad), 401)
    slowed = client.get("/api/v1/status", headers={"Authorization": "Bearer ssw_guess5"})
    assert "too many failed attempts" in error(slowed, 429)
    assert int(slowed.headers["retry-after"]) >= 1
    # a valid token from the same address (one shared by many systems) is never held up
    good = client.get("/api/v1/status", headers=world.auth(Role.VIEWER))
    assert good.status_code == 200, good.text
    # nor is another address
    assert (
        browser(world, "203.0.113.10")
        .get("/api/v1/status", headers=world.auth(Role.VIEWER))
        .status_code
        == 200
    )


# -- users and tokens ---------------------------------------------------------------------------


def test_an_admin_adds_lists_and_removes_users(world: ApiWorld) -> None:
    password = "a-new-users-secret-42"
    body = {"name": "priya", "role": "operator", "password": password}
    added = world.post("/users", Role.ADMIN, json=body)
    assert added.status_code == 201, added.text
    assert added.json() == {"name": "priya", "role": "operator"}
    listed = {u["name"]: u for u in world.get("/users", Role.ADMIN).json()}
    assert listed["priya"]["role"] == "operator"
    assert listed["priya"]["created_by"] == "token admin-system (api)"
    assert password not in world.get("/users", Role.ADMIN).text
    client, _ = world.login("priya", password, address="198.51.100.20")
    assert client.get("/api/v1/me").json()["role"] == "operator"
    assert "the name is taken" in error(world.post("/users", Role.ADMIN, json=body), 409)
    removed = world.client.delete("/api/v1/users/priya", headers=world.auth(Role.ADMIN))
    assert removed.status_code == 200, removed.text
    assert "priya" not in {u["name"] for u in world.get("/users", Role.ADMIN).json()}
    error(client.get("/api/v1/me"), 401)  # the session ended with its user
    gone = world.client.delete("/api/v1/users/priya", headers=world.auth(Role.ADMIN))
    assert "no such user" in error(gone, 404)


@pytest.mark.parametrize(
    ("body", "start"),
    [
        ({"name": "x1", "role": "root", "password": "long enough pass"}, "role: "),
        ({"name": "x1", "role": "viewer", "password": "short"}, "password: 5 characters"),
        ({"name": "x1", "role": "viewer", "password": "p" * 2000}, "password: "),
        ({"name": "-x", "role": "viewer", "password": "long enough pass"}, "user name"),
        ({"name": "x1", "role": "viewer"}, "password: "),
        ({"name": "x1", "role": "viewer", "password": "long enough pass", "a": 1}, "a: "),
    ],
)
def test_a_bad_user_is_refused(world: ApiWorld, body: dict[str, Any], start: str) -> None:
    answer = world.post("/users", Role.ADMIN, json=body)
    assert error(answer, 400).startswith(start)
    if "password" in body:
        assert body["password"] not in answer.text
    assert "x1" not in {u["name"] for u in world.get("/users", Role.ADMIN).json()}


def test_a_token_is_shown_once_stored_hashed_and_can_be_revoked(world: ApiWorld) -> None:
    made = world.post("/tokens", Role.ADMIN, json={"name": "wfm", "role": "operator"})
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    assert secret.startswith("ssw_") and made.json()["expires_at"] is None
    bearer = {"Authorization": f"Bearer {secret}"}
    me = world.client.get("/api/v1/me", headers=bearer)
    assert me.json() == {"name": "wfm", "role": "operator", "via": "token"}

    listing = world.get("/tokens", Role.ADMIN)
    assert secret not in listing.text and secret[4:] not in listing.text
    row = next(t for t in listing.json() if t["name"] == "wfm")
    assert "token" not in row and row["prefix"] == secret[4:12]
    assert row["state"] == "active" and row["created_by"] == "token admin-system (api)"
    assert row["last_used_at"] == "2026-11-30T10:00:00Z"
    stored = world.dump()
    assert secret not in stored and secret[4:] not in stored

    revoked = world.client.delete("/api/v1/tokens/wfm", headers=world.auth(Role.ADMIN))
    assert revoked.status_code == 200, revoked.text
    assert "invalid, expired or revoked" in error(
        world.client.get("/api/v1/me", headers=bearer), 401
    )
    assert (
        next(t for t in world.get("/tokens", Role.ADMIN).json() if t["name"] == "wfm")["state"]
        == "revoked"
    )
    again = world.client.delete("/api/v1/tokens/wfm", headers=world.auth(Role.ADMIN))
    assert "already revoked" in error(again, 409)
    unknown = world.client.delete("/api/v1/tokens/nope", headers=world.auth(Role.ADMIN))
    assert "no such token" in error(unknown, 404)


def test_a_token_name_is_not_taken_twice(world: ApiWorld) -> None:
    taken = world.post("/tokens", Role.ADMIN, json={"name": "admin-system", "role": "viewer"})
    assert "'admin-system': the name is taken" in error(taken, 409)


def test_an_expired_token_is_refused(world: ApiWorld) -> None:
    made = world.post(
        "/tokens", Role.ADMIN, json={"name": "brief", "role": "viewer", "expires": "1h"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["expires_at"] == "2026-11-30T11:00:00Z"
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    assert world.client.get("/api/v1/status", headers=bearer).status_code == 200
    world.clock.advance(timedelta(hours=1))
    try:
        error(world.client.get("/api/v1/status", headers=bearer), 401)
        row = next(t for t in world.get("/tokens", Role.ADMIN).json() if t["name"] == "brief")
        assert row["state"] == "expired"
    finally:
        world.clock.set(NOW)


@pytest.mark.parametrize(
    ("body", "start"),
    [
        ({"name": "t1", "role": "viewer", "expires": "2020-01-01"}, "--expires"),
        ({"name": "t1", "role": "viewer", "expires": "soonish"}, "--expires"),
        ({"name": "t1", "role": "viewer", "expires": "999999w"}, "--expires"),
        ({"name": "t1", "role": "superuser"}, "role: "),
        ({"name": "t 1", "role": "viewer"}, "token name"),
        ({"role": "viewer"}, "name: "),
    ],
)
def test_a_bad_token_request_is_refused(world: ApiWorld, body: dict[str, Any], start: str) -> None:
    assert start in error(world.post("/tokens", Role.ADMIN, json=body), 400)
    assert "t1" not in {t["name"] for t in world.get("/tokens", Role.ADMIN).json()}


# -- secrets ------------------------------------------------------------------------------------


def test_no_secret_in_any_answer_log_line_table_or_redis(
    world: ApiWorld, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, value in EXOTEL_ENV.items():
        monkeypatch.setenv(name, value)
    wrong_password = "wrong-but-close-" + PASSWORD
    answers: list[Any] = []
    client = browser(world, "198.51.100.30")
    answers.append(client.post("/api/v1/login", json={"name": "ada", "password": wrong_password}))
    login = client.post("/api/v1/login", json={"name": "ada", "password": PASSWORD})
    session_secret = login.cookies[SESSION_COOKIE]
    csrf = {CSRF_HEADER: login.json()["csrf_token"]}
    answers.append(client.get("/api/v1/me"))
    made = client.post("/api/v1/tokens", json={"name": "bot", "role": "operator"}, headers=csrf)
    token = made.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    answers += [
        world.client.get("/api/v1/me", headers=bearer),
        world.client.get("/api/v1/tokens", headers=world.auth(Role.ADMIN)),
        world.client.get("/api/v1/users", headers=world.auth(Role.ADMIN)),
        world.client.post("/api/v1/reconcile", json={"remote": True}, headers=bearer),
        world.client.post("/api/v1/agents/asha/devices/desk/on", json={}, headers=bearer),
        world.client.get("/api/v1/status", headers=bearer),
        world.client.get("/api/v1/history", headers=bearer),
        world.client.get("/api/v1/agents/asha", headers=bearer),
        world.client.get("/api/v1/roster/export", headers=bearer),
        world.client.post(
            "/api/v1/users",
            json={"name": "eve", "role": "viewer", "password": wrong_password},
            headers=world.auth(Role.ADMIN),
        ),
        world.client.post(
            "/api/v1/users",
            json={"name": "eve", "role": "viewer", "password": wrong_password[:8]},
            headers=world.auth(Role.ADMIN),
        ),
        world.client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}x"}),
        client.post("/api/v1/logout", headers=csrf),
    ]
    assert answers[5].status_code == 200, answers[5].text  # the remote read used the credentials
    assert {a.status_code for a in answers} <= {200, 201, 202, 400, 401, 503}

    secrets = [PASSWORD, wrong_password, token, token[4:], session_secret, EXOTEL_KEY, EXOTEL_TOKEN]
    said = "\n".join(
        f"{a.status_code} {dict(a.headers)} {a.text}" for a in [*answers, made]
    ).replace(f'"token":"{token}"', '"token":"(shown once)"')
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    stored = world.dump()
    in_redis = redis_text(world)
    assert caplog.records, "nothing was logged: the search would prove nothing"
    for secret in secrets:
        assert secret not in said
        assert secret not in logged
        assert secret not in stored
        assert secret not in in_redis


def redis_text(world: ApiWorld) -> str:
    """Every key and value in the test's Redis database (the broker's messages among them)."""
    r = world.redis
    read: dict[Any, Callable[[Any], object]] = {
        b"string": r.get,
        b"list": lambda k: r.lrange(k, 0, -1),
        b"hash": r.hgetall,
        b"set": r.smembers,
        b"zset": lambda k: r.zrange(k, 0, -1),
    }
    return "\n".join(f"{k!r} {read[r.type(k)](k)!r}" for k in r.scan_iter())
