"""Roles, and what users, tokens and sessions are made of: names, passwords, token shape,
digests, CSRF tokens and token expiry as ``tokens create --expires`` takes it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from shiftswitch.access import AccessError, Principal, Role, parse_role, permits
from shiftswitch.access import credentials as c

NOW = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
        (Role.VIEWER, Role.ADMIN, False),
        (Role.OPERATOR, Role.VIEWER, True),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.ADMIN, Role.OPERATOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_roles_are_in_order(role: Role, needed: Role, allowed: bool) -> None:
    assert permits(role, needed) is allowed
    assert Principal("asha", role, "token").may(needed) is allowed


def test_parse_role_takes_any_case_and_names_the_choices() -> None:
    assert parse_role(" Operator ") is Role.OPERATOR
    with pytest.raises(AccessError) as raised:
        parse_role("root")
    assert str(raised.value) == "role 'root' is not a role: choose viewer, operator or admin"


def test_principal_says_who_made_a_change_through_the_api() -> None:
    assert Principal("asha", Role.ADMIN, "password").by == "asha (api)"
    assert Principal("asha", Role.ADMIN, "session").by == "asha (api)"
    assert Principal("ci-deploy", Role.OPERATOR, "token").by == "token ci-deploy (api)"


@pytest.mark.parametrize("name", ["a", "asha", "ops.lead@acme", "ci-deploy_2", "x" * 64])
def test_good_names(name: str) -> None:
    assert c.check_name(name, "user") == name


@pytest.mark.parametrize("name", ["", "x" * 65, "-lead", "asha lead", "asha\n", "räsha", "a/b"])
def test_bad_names_say_what_a_name_may_hold(name: str) -> None:
    with pytest.raises(AccessError, match=r"^token name .*: use 1-64 letters, digits and _ \. @ -"):
        c.check_name(name, "token")


def test_passwords_between_12_and_1024_characters_and_never_shown() -> None:
    assert c.check_password("x" * 12) == "x" * 12
    assert c.check_password("x" * 1024) == "x" * 1024
    with pytest.raises(AccessError) as short:
        c.check_password("hunter2hunt")
    assert str(short.value) == "password: 11 characters, at least 12 needed; choose a longer one"
    with pytest.raises(AccessError, match="1025 characters, at most 1024") as long:
        c.check_password("y" * 1025)
    assert "yyy" not in str(long.value)


def test_a_token_is_ssw_and_256_random_bits_shown_by_its_first_8_characters() -> None:
    tokens = {c.new_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"ssw_[A-Za-z0-9_-]{43}", token)
        assert c.may_be_token(token)
        assert c.token_prefix(token) == token[4:12]
        assert re.fullmatch(r"[0-9a-f]{64}", c.digest(token))
        assert c.same_digest(token, c.digest(token))
        assert not c.same_digest(token + "x", c.digest(token))
    assert not c.may_be_token("Bearer ssw_abc")
    assert not c.may_be_token("ssw_" + "a" * 200)


def test_csrf_token_is_the_sessions_own_and_unlike_its_secret() -> None:
    secret, other = c.new_secret(), c.new_secret()
    assert c.csrf_token(secret) == c.csrf_token(secret)
    assert c.csrf_token(secret) != c.csrf_token(other)
    assert secret not in c.csrf_token(secret)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", c.csrf_token(secret))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW + timedelta(days=30)),
        ("12h", NOW + timedelta(hours=12)),
        ("90m", NOW + timedelta(minutes=90)),
        ("2w", NOW + timedelta(weeks=2)),
        ("2026-12-31T18:00", datetime(2026, 12, 31, 18, 0, tzinfo=UTC)),  # UTC
        ("2026-12-31T18:00+05:30", datetime(2026, 12, 31, 12, 30, tzinfo=UTC)),
        ("2026-12-31T18:00Z", datetime(2026, 12, 31, 18, 0, tzinfo=UTC)),
        ("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC)),  # the whole day
        ("2026-11-30", datetime(2026, 12, 1, tzinfo=UTC)),  # today: until its end
    ],
)
def test_expiry(text: str, expected: datetime) -> None:
    assert c.parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["soon", "30", "30 days", "-1d", "1y", "2026-13-01", "9" * 50])
def test_expiry_not_understood_says_what_to_write(text: str) -> None:
    with pytest.raises(AccessError, match=r"^--expires .*: write a duration \(30d, 12h"):
        c.parse_expiry(text, NOW)


@pytest.mark.parametrize(
    "text", ["0d", "2026-11-29", "2026-11-30T09:15Z", "2026-11-30T14:00+05:30"]
)
def test_expiry_not_after_now_is_refused(text: str) -> None:
    with pytest.raises(AccessError, match=r"not after now \(2026-11-30T09:15:00Z\); give a later"):
        c.parse_expiry(text, NOW)


def test_expiry_beyond_the_calendar_is_refused() -> None:
    with pytest.raises(AccessError, match="write a duration"):
        c.parse_expiry("999999w", NOW)
