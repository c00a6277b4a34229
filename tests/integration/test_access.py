"""Users, API tokens and console sessions in the database (SQLite and PostgreSQL), the login
throttle on real Redis, and ``shiftswitch users`` / ``shiftswitch tokens`` run as a user runs
them."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from redis import Redis
from sqlalchemy import Engine, select

from shiftswitch.access import (
    SESSION_TTL,
    AccessError,
    AccessStore,
    LoginThrottle,
    Principal,
    Role,
)
from shiftswitch.access.tables import ApiToken, ApiUser
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.schema import METADATA
from tests import ROOT
from tests.commands import Ran, shiftswitch
from tests.services import COORDINATION_REDIS_DB, redis_url

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
# Cheap parameters: the tests check what is done with the hash, not argon2's cost.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> AccessStore:
    return AccessStore(engine, hasher=CHEAP)


def _every_value(engine: Engine) -> str:
    """Every row of every table, as text."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in METADATA.sorted_tables
            for row in conn.execute(table.select())
        )


# -- users --------------------------------------------------------------------------------------


def test_users_sign_in_with_their_password_only(store: AccessStore) -> None:
    store.add_user("asha", Role.ADMIN, PASSWORD, by="root", now=NOW)
    store.add_user("ravi", Role.VIEWER, "another long password", by="asha (api)", now=NOW)
    later = NOW + timedelta(hours=1)
    assert store.check_password("asha", PASSWORD, later) == Principal(
        "asha", Role.ADMIN, "password"
    )
    assert store.check_password("asha", PASSWORD + " ", later) is None
    assert store.check_password("asha", "", later) is None
    assert store.check_password("ravi", PASSWORD, later) is None
    assert store.check_password("nobody", PASSWORD, later) is None
    assert store.check_password("ASHA", PASSWORD, later) is None
    assert [
        (u.name, u.role, u.created_by, u.created_at, u.last_login_at) for u in store.users()
    ] == [
        ("asha", Role.ADMIN, "root", NOW, later),
        ("ravi", Role.VIEWER, "asha (api)", NOW, None),
    ]


def test_user_mistakes_are_one_line(store: AccessStore) -> None:
    store.add_user("asha", Role.ADMIN, PASSWORD, by="root", now=NOW)
    with pytest.raises(AccessError, match=r"^user 'asha': the name is taken; choose another"):
        store.add_user("asha", Role.VIEWER, PASSWORD, by="root", now=NOW)
    with pytest.raises(AccessError, match=r"^password: 5 characters, at least 12"):
        store.add_user("ravi", Role.VIEWER, "short", by="root", now=NOW)
    with pytest.raises(AccessError, match=r"^user name 'ravi kumar': use 1-64"):
        store.add_user("ravi kumar", Role.VIEWER, PASSWORD, by="root", now=NOW)
    with pytest.raises(AccessError, match=r"^user 'ravi': no such user \(see 'shiftswitch users"):
        store.remove_user("ravi")
    assert [u.name for u in store.users()] == ["asha"]


def test_a_hash_made_with_older_parameters_is_made_again_at_login(
    store: AccessStore, engine: Engine
) -> None:
    store.add_user("asha", Role.ADMIN, PASSWORD, by="root", now=NOW)
    stronger = AccessStore(
        engine, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    )
    with engine.connect() as conn:
        before = conn.scalar(select(ApiUser.password_hash))
    assert before is not None and before.startswith("$argon2id$") and "t=1" in before
    assert stronger.check_password("asha", PASSWORD, NOW) is not None
    with engine.connect() as conn:
        after = conn.scalar(select(ApiUser.password_hash))
    assert after is not None and "t=2" in after and "m=16" in after
    assert store.check_password("asha", PASSWORD, NOW) is not None  # either reads both


class CountingHasher(PasswordHasher):
    """Argon2 at CHEAP's parameters, keeping the hashes it checked passwords against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.checked: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.checked.append(str(hash))
        return super().verify(hash, password)


def test_an_unknown_name_costs_an_argon2_check_too(engine: Engine) -> None:
    hasher = CountingHasher()
    store = AccessStore(engine, hasher=hasher)
    store.add_user("asha", Role.ADMIN, PASSWORD, by="root", now=NOW)
    assert store.check_password("nobody", PASSWORD, NOW) is None
    assert store.check_password("asha", "wrong password!", NOW) is None
    assert len(hasher.checked) == 2
    assert all(h.startswith("$argon2id$v=19$m=8,t=1,p=1$") for h in hasher.checked)
    assert hasher.checked[0] != hasher.checked[1]  # the dummy's, then asha's


# -- tokens -------------------------------------------------------------------------------------


def test_tokens_check_until_revoked(store: AccessStore) -> None:
    secret = store.create_token("ci-deploy", Role.OPERATOR, expires_at=None, by="asha", now=NOW)
    assert secret.startswith("ssw_") and len(secret) == 47
    assert store.check_token(secret, NOW) == Principal("ci-deploy", Role.OPERATOR, "token")
    assert store.check_token(secret[:-1], NOW) is None
    assert store.check_token(secret + "x", NOW) is None
    assert store.check_token("ssw_" + "A" * 43, NOW) is None
    assert store.check_token("", NOW) is None
    [row] = store.tokens()
    assert (row.name, row.role, row.prefix, row.created_by) == (
        "ci-deploy",
        "operator",
        secret[4:12],
        "asha",
    )
    assert row.state(NOW) == "active"
    store.revoke_token("ci-deploy", now=NOW + timedelta(minutes=5))
    assert store.check_token(secret, NOW + timedelta(minutes=6)) is None
    [row] = store.tokens()
    assert row.revoked_at == NOW + timedelta(minutes=5) and row.state(NOW) == "revoked"
    with pytest.raises(
        AccessError, match=r"^token 'ci-deploy': already revoked at 2026-11-30T09:05:00Z$"
    ):
        store.revoke_token("ci-deploy", now=NOW)
    with pytest.raises(AccessError, match=r"^token 'nope': no such token"):
        store.revoke_token("nope", now=NOW)
    with pytest.raises(AccessError, match=r"^token 'ci-deploy': the name is taken"):
        store.create_token("ci-deploy", Role.VIEWER, expires_at=None, by="asha", now=NOW)


def test_a_token_stops_at_its_expiry(store: AccessStore) -> None:
    end = NOW + timedelta(days=30)
    secret = store.create_token("report", Role.VIEWER, expires_at=end, by="asha", now=NOW)
    assert store.check_token(secret, end - timedelta(seconds=1)) is not None
    assert store.check_token(secret, end) is None
    assert store.tokens()[0].state(end) == "expired"
    with pytest.raises(AccessError, match=r"^token expiry 2026-11-30T09:00:00Z is not after now"):
        store.create_token("late", Role.VIEWER, expires_at=NOW, by="asha", now=NOW)


def test_last_use_is_written_at_most_once_a_minute(store: AccessStore) -> None:
    secret = store.create_token("ci", Role.VIEWER, expires_at=None, by="asha", now=NOW)
    assert store.tokens()[0].last_used_at is None
    for seconds, recorded in [(0, 0), (1, 0), (59, 0), (60, 60), (61, 60), (150, 150)]:
        assert store.check_token(secret, NOW + timedelta(seconds=seconds)) is not None
        assert store.tokens()[0].last_used_at == NOW + timedelta(seconds=recorded), seconds


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_open_check_and_close(store: AccessStore) -> None:
    store.add_user("asha", Role.OPERATOR, PASSWORD, by="root", now=NOW)
    asha = store.check_password("asha", PASSWORD, NOW)
    assert asha is not None
    secret, csrf = store.open_session(asha, NOW)
    info = store.check_session(secret, NOW + timedelta(hours=1))
    assert info is not None
    assert info.principal == Principal("asha", Role.OPERATOR, "session")
    assert info.principal.by == "asha (api)"
    assert info.expires_at == NOW + SESSION_TTL
    assert info.csrf_token == csrf
    assert info.csrf_ok(csrf)
    assert not info.csrf_ok(csrf[:-1] + ("A" if csrf[-1] != "A" else "B"))
    assert not info.csrf_ok("")
    assert not info.csrf_ok(None)
    assert store.check_session(secret + "x", NOW) is None
    assert store.check_session("", NOW) is None
    other, other_csrf = store.open_session(asha, NOW)
    assert other != secret and other_csrf != csrf
    other_info = store.check_session(other, NOW)
    assert other_info is not None and not other_info.csrf_ok(csrf)  # one session's, not another's
    store.close_session(secret)
    assert store.check_session(secret, NOW) is None
    assert store.check_session(other, NOW) is not None
    store.close_session(secret)  # again: nothing


def test_a_session_ends_after_its_ttl_and_with_its_user(store: AccessStore, engine: Engine) -> None:
    store.add_user("asha", Role.ADMIN, PASSWORD, by="root", now=NOW)
    store.add_user("ravi", Role.VIEWER, PASSWORD, by="root", now=NOW)
    asha, ravi = (
        Principal("asha", Role.ADMIN, "password"),
        Principal("ravi", Role.VIEWER, "password"),
    )
    old, _ = store.open_session(asha, NOW)
    assert store.check_session(old, NOW + SESSION_TTL - timedelta(seconds=1)) is not None
    assert store.check_session(old, NOW + SESSION_TTL) is None
    store.open_session(asha, NOW + SESSION_TTL)  # clears the sessions over
    assert _count_sessions(engine) == 1
    ravis, _ = store.open_session(ravi, NOW + SESSION_TTL)
    store.remove_user("ravi")
    assert store.check_session(ravis, NOW + SESSION_TTL) is None
    assert _count_sessions(engine) == 1
    with pytest.raises(AccessError, match="a console session is for a user"):
        store.open_session(Principal("ci", Role.ADMIN, "token"), NOW)
    with pytest.raises(AccessError, match="user 'ravi': no such user"):
        store.open_session(ravi, NOW)


def _count_sessions(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(METADATA.tables["api_sessions"])).all())


def test_no_secret_is_kept_in_any_table(store: AccessStore, engine: Engine) -> None:
    store.add_user("asha", Role.ADMIN, PASSWORD, by="root", now=NOW)
    token = store.create_token("ci", Role.OPERATOR, expires_at=None, by="asha", now=NOW)
    assert store.check_token(token, NOW) is not None
    asha = store.check_password("asha", PASSWORD, NOW)
    assert asha is not None
    session, csrf = store.open_session(asha, NOW)
    assert store.check_session(session, NOW) is not None
    stored = _every_value(engine)
    assert "asha" in stored and token[4:12] in stored  # the rows are there
    for secret in (PASSWORD, token, token[4:], session, csrf):
        assert secret not in stored
    with engine.connect() as conn:
        assert conn.scalar(select(ApiToken.prefix)) == token[4:12]


# -- the login throttle -------------------------------------------------------------------------


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(redis_url(COORDINATION_REDIS_DB))
    yield client
    client.close()


SALT = b"a salt of this test's, 16 bytes or more"


@pytest.fixture
def prefix(redis: Redis) -> Iterator[str]:
    """Keys of this test's own in the coordination tests' database, removed afterwards."""
    name = f"test-throttle-{uuid.uuid4().hex[:8]}:"
    yield name
    keys = list(redis.scan_iter(f"{name}*"))
    if keys:
        redis.delete(*keys)


def test_throttle_locks_out_after_failures_doubling_and_clears_on_success(
    redis: Redis, prefix: str
) -> None:
    throttle = LoginThrottle(redis, salt=SALT, failures=3, window=300.0, prefix=prefix)
    keys = ("user:asha", "ip:203.0.113.7")
    assert throttle.wait(*keys) == 0
    throttle.failed(*keys)
    throttle.failed(*keys)
    assert throttle.wait(*keys) == 0
    locks = []
    for _ in range(4):
        throttle.failed(*keys)
        locks.append(throttle.wait(*keys))
    for lock, full in zip(locks, (1, 2, 4, 8), strict=True):
        assert full - 0.5 < lock <= full
    assert throttle.wait("user:asha") > 7 and throttle.wait("ip:203.0.113.7") > 7
    assert throttle.wait("user:ravi") == 0
    throttle.succeeded("user:asha")
    assert throttle.wait("user:asha") == 0
    assert throttle.wait(*keys) > 0  # the address is still locked
    throttle.succeeded(*keys)
    assert throttle.wait(*keys) == 0
    throttle.failed(*keys)
    assert throttle.wait(*keys) == 0  # counting again from none


def test_throttle_lock_is_capped_at_the_window_and_ends(redis: Redis, prefix: str) -> None:
    throttle = LoginThrottle(redis, salt=SALT, failures=1, window=0.2, prefix=prefix)
    for _ in range(40):  # 2^39 s, but never more than the window
        throttle.failed("user:asha")
    assert 0 < throttle.wait("user:asha") <= 0.2
    _until(lambda: throttle.wait("user:asha") == 0)
    _until(lambda: not list(redis.scan_iter(f"{prefix}*")))  # the count goes too


def test_throttle_keys_are_salted_digests(redis: Redis, prefix: str) -> None:
    """No name in a key, and no key that a reader of Redis could compute from a guess."""
    throttle = LoginThrottle(redis, salt=SALT, failures=1, prefix=prefix)
    throttle.failed("user:asha", "ip:203.0.113.7", "token:ssw_abcdefgh")
    names = b" ".join(redis.scan_iter(f"{prefix}*"))
    assert len(names.split()) == 6
    for word in (b"asha", b"203.0.113.7", b"ssw_"):
        assert word not in names
    guessed = hashlib.sha256(b"user:asha").hexdigest().encode()
    assert guessed not in names
    other = LoginThrottle(redis, salt=b"another installation", failures=1, prefix=prefix)
    assert other.wait("user:asha") == 0  # another salt: other keys
    with pytest.raises(ValueError, match="salt"):
        LoginThrottle(redis, salt=b"short", prefix=prefix)


def test_the_throttle_salt_is_made_once_per_database(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        first = AccessStore(engine).throttle_salt()
        assert len(first) >= 32 and AccessStore(engine).throttle_salt() == first
    finally:
        engine.dispose()


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- the commands -------------------------------------------------------------------------------

Cli = Callable[..., Ran]


@pytest.fixture
def cli(database_url: str) -> Cli:
    """``shiftswitch COMMAND ARGS`` on this test's database, at NOW (``stdin=`` what it
    reads); COMMAND is split as a shell splits it."""
    clock = FixedClock(NOW)

    def call(command: str, *args: str, stdin: str | None = None) -> Ran:
        environment = {**os.environ, "DATABASE_URL": database_url}
        argv = [*shlex.split(command), *args]
        return shiftswitch(*argv, env=environment, cwd=ROOT, clock=clock, stdin=stdin)

    return call


def test_users_from_the_command_line(cli: Cli, database_url: str) -> None:
    done = cli("users add asha --role admin --password-stdin --by root", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "user asha added (admin)\n" and done.stdout == ""
    done = cli(
        "users add ravi --role Viewer",
        stdin="another long password\nanother long password\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Password for ravi" in done.stderr and "another" not in done.stderr + done.stdout
    done = cli("users list --json")
    assert done.returncode == 0, done.stderr
    assert [(u["name"], u["role"], u["created_at"]) for u in json.loads(done.stdout)] == [
        ("asha", "admin", "2026-11-30T09:00:00Z"),
        ("ravi", "viewer", "2026-11-30T09:00:00Z"),
    ]
    assert json.loads(done.stdout)[0]["created_by"] == "root"
    table = cli("users list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "CREATED", "(UTC)", "BY", "LAST", "LOGIN", "(UTC)"]
    engine = make_engine(database_url)
    try:
        assert AccessStore(engine).check_password("asha", PASSWORD, NOW) is not None
        assert PASSWORD not in _every_value(engine)
    finally:
        engine.dispose()
    done = cli("users remove ravi")
    assert (done.returncode, done.stderr) == (0, "user ravi removed; their sessions ended\n")
    assert [u["name"] for u in json.loads(cli("users list --json").stdout)] == ["asha"]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (("add", "asha", "--role", "admin", "--password-stdin"), "short\n", 1,
         "password: 5 characters, at least 12 needed; choose a longer one"),
        (("add", "taken", "--role", "admin", "--password-stdin"), PASSWORD + "\n", 1,
         "user 'taken': the name is taken; choose another (see 'shiftswitch users list')"),
        (("add", "asha", "--role", "admin", "--password-stdin"), "", 2,
         "--password-stdin: no password on standard input; give one line"),
        (("add", "asha", "--role", "root", "--password-stdin"), PASSWORD + "\n", 2,
         "Invalid value for '--role': 'root' is not one of 'viewer', 'operator', 'admin'."),
        (("add", "a b", "--role", "admin", "--password-stdin"), PASSWORD + "\n", 2,
         "user name 'a b': use 1-64 letters, digits and _ . @ -, starting with a letter or digit"),
        (("add", "asha", "--role", "admin"), "a long password\nanother one!\n", 2,
         "The two entered values do not match"),
        (("add", "asha", "--role", "admin"), "", 2,
         "no password given: run it at a terminal, or give the password on standard input "
         "with --password-stdin"),
        (("remove", "nobody"), None, 1,
         "user 'nobody': no such user (see 'shiftswitch users list')"),
    ],
)  # fmt: skip
def test_user_mistakes_from_the_command_line(
    cli: Cli, args: tuple[str, ...], stdin: str | None, code: int, message: str
) -> None:
    taken = cli("users add taken --role viewer --password-stdin", stdin=PASSWORD)
    assert taken.returncode == 0, taken.stderr
    done = cli("users", *args, stdin=stdin)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr
    assert done.stdout == ""


def test_tokens_from_the_command_line(cli: Cli, database_url: str) -> None:
    done = cli("tokens create --name ci-deploy --role operator --expires 30d --by asha")
    assert done.returncode == 0, done.stderr
    token = done.stdout.removesuffix("\n")
    assert done.stdout.count("\n") == 1 and token.startswith("ssw_")
    assert "until 2026-12-30T09:00:00Z" in done.stderr and "shown this once" in done.stderr
    assert token not in done.stderr
    assert cli("tokens create --name report --role viewer").returncode == 0
    engine = make_engine(database_url)
    try:
        assert AccessStore(engine).check_token(token, NOW) == Principal(
            "ci-deploy", Role.OPERATOR, "token"
        )
        assert token not in _every_value(engine)
    finally:
        engine.dispose()
    listed = cli("tokens list --json")
    assert listed.returncode == 0 and token not in listed.stdout and token[4:] not in listed.stdout
    rows = json.loads(listed.stdout)
    assert [
        (t["name"], t["role"], t["prefix"], t["state"], t["expires_at"], t["created_by"])
        for t in rows
    ] == [
        ("ci-deploy", "operator", token[4:12], "active", "2026-12-30T09:00:00Z", "asha"),
        ("report", "viewer", rows[1]["prefix"], "active", None, rows[1]["created_by"]),
    ]
    assert rows[0]["last_used_at"] == "2026-11-30T09:00:00Z"
    text = cli("tokens list").stdout
    assert f"ssw_{token[4:12]}..." in text and token not in text
    done = cli("tokens revoke ci-deploy")
    assert (done.returncode, done.stderr) == (0, "token ci-deploy revoked\n")
    assert json.loads(cli("tokens list --json").stdout)[0]["state"] == "revoked"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("create", "--name", "ci", "--role", "viewer", "--expires", "2026-11-29"), 2,
         "--expires '2026-11-29' is 2026-11-30T00:00:00Z, not after now (2026-11-30T09:00:00Z)"),
        (("create", "--name", "ci", "--role", "viewer", "--expires", "soon"), 2,
         "--expires 'soon': write a duration (30d, 12h, 90m, 2w)"),
        (("create", "--name", "taken", "--role", "viewer"), 1,
         "token 'taken': the name is taken; choose another (see 'shiftswitch tokens list')"),
        (("create", "--name", "ci", "--role", "boss"), 2, "Invalid value for '--role'"),
        (("revoke", "nope"), 1, "token 'nope': no such token (see 'shiftswitch tokens list')"),
        (("revoke", "taken"), 0, "token taken revoked"),
    ],
)  # fmt: skip
def test_token_mistakes_from_the_command_line(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    assert cli("tokens create --name taken --role viewer").returncode == 0
    done = cli("tokens", *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    if code == 0:
        done = cli("tokens", *args)
        assert done.returncode == 1 and "already revoked at 2026-11-30T09:00:00Z" in done.stderr
