"""The common case read at once (:mod:`shiftswitch.roster.plain`) against the long way: for
rosters of right and wrong agents and members, the loader gives the same roster, or the same
problems at the same places, with the short path as without it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiftswitch.problems import RosterError
from shiftswitch.roster import loader
from shiftswitch.roster.loader import parse_document
from shiftswitch.roster.plain import plain_agent, plain_members

NAMES = st.sampled_from(["asha", "ravi", "meera", "kiran", "bad name", "", "x" * 3])
DEVICE_NAMES = st.sampled_from(["desk", "mobile", "api_key", "two words", "Desk"])
REFS = st.sampled_from(
    ["100280", "100281", "+919953125068", "+919953125069", "sip:asha@pbx", "SIP:Asha@pbx",
     "  100280 ", "+919953125070", "+12", "sip:", "", "not a device!"]
)  # fmt: skip
TEXT = st.one_of(st.sampled_from([" u-2 ", "", "  "]), st.none(), st.just(["list"]))
ACCOUNT = st.sampled_from(["main", "  main ", "other", "broken", "", None])
CONTACT = st.sampled_from(["asha@example.com", "not-an-address", "", None])


@st.composite
def agent_bodies(draw: Any) -> Any:
    """A right agent, most often with one thing changed (a value, a key, a device)."""
    body: dict[str, Any] = {
        "account": "main",
        "user_id": "u-1",
        "devices": draw(st.dictionaries(DEVICE_NAMES, REFS, min_size=1, max_size=2)),
    }
    if draw(st.booleans()):
        body["contact"] = "asha@example.com"
    change = draw(st.integers(0, 9))
    if change == 1:
        body["account"] = draw(ACCOUNT)
    elif change == 2:
        body["user_id"] = draw(TEXT)
    elif change == 3:
        del body["user_id"]
    elif change == 4:
        body["contact"] = draw(CONTACT)
    elif change == 5:
        del body[draw(st.sampled_from(["account", "devices"]))]
    elif change == 6:
        body["devices"] = draw(st.sampled_from([{}, ["100280"], "100280", None]))
    elif change == 7:
        body[draw(st.sampled_from(["extra", "api_token"]))] = "x"
    elif change == 8:
        return draw(st.sampled_from(["a string", None, ["a", "list"]]))
    return body


MEMBERS = st.sampled_from(
    ["asha", "ravi", "meera:desk", "asha:mobile", "asha:phone", "nobody", " ravi ", "kiran :desk",
     "", "bad name"]
)  # fmt: skip


@st.composite
def rosters(draw: Any) -> str:
    agents = draw(st.dictionaries(NAMES, agent_bodies(), min_size=1, max_size=5))
    members = draw(
        st.lists(st.one_of(MEMBERS, st.just(["nested"])), min_size=0, max_size=5)
        if draw(st.integers(0, 10))
        else st.sampled_from(["asha", None])
    )
    document = {
        "version": "1",
        "timezone": "Asia/Kolkata",
        "accounts": {
            "main": {"sid": "acme", "region": "singapore"},
            "broken": {"sid": "acme2", "region": "nowhere"},
        },
        "agents": agents,
        "shifts": [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": members}],
    }
    return yaml.safe_dump(document, sort_keys=False)


def parsed(text: str) -> Any:
    try:
        return parse_document(text)[0]
    except RosterError as exc:
        return [(p.path, p.message, p.line) for p in exc.problems]


def the_long_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "plain_agent", lambda *args: None)
    monkeypatch.setattr(loader, "plain_members", lambda *args: None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rosters())
def test_the_short_path_gives_what_the_long_way_gives(text: str) -> None:
    short = parsed(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        the_long_way(monkeypatch)
        long = parsed(text)
    assert short == long


def test_a_plain_agent_is_read_at_once_and_anything_else_is_left() -> None:
    accounts: Any = {"main": object()}
    refs: dict[tuple[str, str], tuple[str, str]] = {}
    body = {"account": "main", "user_id": "u-1", "devices": {"desk": "100280"}}
    agent = plain_agent("asha", body, accounts, refs)
    assert agent is not None and agent.devices["desk"].kind == "id"
    assert refs == {("main", "100280"): ("asha", "desk")}
    # The same device again, another agent's: left to the long way, refs unchanged.
    assert plain_agent("ravi", {**body, "user_id": "u-2"}, accounts, refs) is None
    assert refs == {("main", "100280"): ("asha", "desk")}
    # A device id without a user id, an unknown key, an unknown account: left.
    assert plain_agent("kiran", {"account": "main", "devices": {"d": "1"}}, accounts, {}) is None
    assert plain_agent("kiran", {**body, "pin": "1"}, accounts, {}) is None
    assert plain_agent("kiran", {**body, "account": "other"}, accounts, {}) is None


def test_members_are_read_at_once_only_when_all_are_right() -> None:
    accounts: Any = {"main": object()}
    one = plain_agent("asha", {"account": "main", "devices": {"m": "+919953125068"}}, accounts, {})
    assert one is not None
    agents = {"asha": one}
    assert [str(m) for m in plain_members(["asha", " asha "][:1], agents) or ()] == ["asha:m"]
    assert plain_members(["asha", "asha"], agents) is None  # twice
    assert plain_members(["asha:desk"], agents) is None  # no such device
    assert plain_members(["nobody"], agents) is None
