"""The common case read at once (:mod:`shiftswitch.roster.plain`) against the long way: for
rosters of right and wrong agents and members, the loader gives the same roster, or the same
problems at the same places, with the short path as without it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shiftswitch.problems import RosterError
from shiftswitch.roster import loader
from shiftswitch.roster.loader import parse_document
from shiftswitch.roster.model import Roster
from shiftswitch.roster.plain import plain_agent, plain_members

RIGHT_NAMES = ["asha", "ravi", "meera", "kiran", "Kiran", "sunil", "devi", "om"]
NAMES = st.sampled_from([*RIGHT_NAMES, *RIGHT_NAMES, "bad name", ""])  # a wrong one in nine
RIGHT_DEVICES = ["desk", "mobile", "Desk"]
WRONG_DEVICES = ["api_key", "two words"]
# Right references, two of them the same device in another case (one device, one agent).
RIGHT_REFS = ["Dev-A1", "dev-a1", " 100282 ", "sip:asha@pbx"] + [
    f"+9199531250{n:02d}" for n in range(40)
]
WRONG_REFS = ["+12", "sip:", "SIP:Asha@pbx", "", "not a device!"]
TEXT = st.one_of(st.sampled_from([" u-2 ", "", "  "]), st.none(), st.just(["list"]))
ACCOUNT = st.sampled_from(["main", "  main ", "other", "broken", "", None])
CONTACT = st.sampled_from([" asha@example.com ", "not-an-address", "", None])


@st.composite
def agent_bodies(draw: Any) -> Any:
    """A right agent, often with one thing changed (a value, a key, a device)."""
    right = draw(st.integers(0, 5)) < 5  # (hypothesis draws the least value most often)
    refs = st.sampled_from(RIGHT_REFS if right else RIGHT_REFS + WRONG_REFS)
    names = st.sampled_from(RIGHT_DEVICES if right else RIGHT_DEVICES + WRONG_DEVICES)
    body: dict[str, Any] = {
        "account": "main",
        "user_id": "u-1",
        "devices": draw(st.dictionaries(names, refs, min_size=1, max_size=2)),
    }
    if draw(st.booleans()):
        body["contact"] = "asha@example.com"
    change = draw(st.integers(0, 19))
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


@st.composite
def members_of(draw: Any, agents: dict[str, Any]) -> Any:
    """Each agent once (so that none is left unused), most often as it should be written."""
    out: list[Any] = []
    for name, body in agents.items():
        devices = list(body.get("devices") or {}) if isinstance(body, dict) else []
        how = draw(st.integers(0, 12))
        if how == 1 and devices:
            out.append(f" {name} : {devices[-1]} ")
        elif how == 2:
            out.append(f"{name}:phone")  # no such device
        elif how == 3:
            out += [name, name]  # twice
        elif how == 4:
            out.append(draw(st.sampled_from(["nobody", "", ["nested"], None])))
        elif len(devices) == 1 and draw(st.booleans()):
            out.append(name)
        else:
            out.append(f"{name}:{devices[0]}" if devices else name)
    return out if draw(st.integers(0, 15)) < 15 else draw(st.sampled_from(["asha", None]))


@st.composite
def rosters(draw: Any) -> str:
    agents = draw(st.dictionaries(NAMES, agent_bodies(), min_size=1, max_size=4))
    document = {
        "version": "1",
        "timezone": "Asia/Kolkata",
        "accounts": {
            "main": {"sid": "acme", "region": "singapore"},
            "other": {"sid": "acme3", "region": "mumbai"},
        }
        # An account that fails its own checks: its agents are not told of it again.
        | ({"broken": {"sid": "acme2", "region": "nowhere"}} if draw(st.booleans()) else {}),
        "agents": agents,
        "shifts": [
            {
                "name": "day",
                "start": "0 9 * * *",
                "duration": "8h",
                "members": draw(members_of(agents)),
            }
        ],
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


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rosters())
def test_the_short_path_gives_what_the_long_way_gives(text: str) -> None:
    short = parsed(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        the_long_way(monkeypatch)
        long = parsed(text)
    assert short == long
    event("valid" if isinstance(short, Roster) else "refused")


def base() -> dict[str, Any]:
    """A right roster: two agents of one account, one of them with two devices."""
    return {
        "version": "1",
        "timezone": "Asia/Kolkata",
        "accounts": {
            "main": {"sid": "acme", "region": "singapore"},
            "other": {"sid": "acme3", "region": "mumbai"},
        },
        "agents": {
            "asha": {
                "account": "main",
                "user_id": "u-1",
                "devices": {"desk": "Dev-A1", "mobile": "+919953125068"},
                "contact": "asha@example.com",
            },
            "ravi": {"account": "main", "user_id": "u-2", "devices": {"desk": "100281"}},
        },
        "shifts": [
            {
                "name": "day",
                "start": "0 9 * * *",
                "duration": "8h",
                "members": ["asha:desk", "ravi"],
            }
        ],
    }


def asha(roster: dict[str, Any]) -> dict[str, Any]:
    agent: dict[str, Any] = roster["agents"]["asha"]
    return agent


def members(roster: dict[str, Any], *items: Any) -> None:
    roster["shifts"][0]["members"] = list(items)


EDITS: dict[str, Any] = {
    "as it is": lambda r: None,
    "a contact that is no address": lambda r: asha(r).update(contact="not-an-address"),
    "a contact with spaces around": lambda r: asha(r).update(contact=" asha@example.com "),
    "an empty contact": lambda r: asha(r).update(contact=""),
    "a user id with spaces around": lambda r: asha(r).update(user_id=" u-1 "),
    "a blank user id": lambda r: asha(r).update(user_id="  "),
    "no user id for a device id": lambda r: asha(r).pop("user_id"),
    "an account with spaces around": lambda r: asha(r).update(account=" main "),
    "another account": lambda r: asha(r).update(account="other"),
    "an unknown account": lambda r: asha(r).update(account="nowhere"),
    "an unknown key": lambda r: asha(r).update(pin="1234"),
    "a credential's key": lambda r: asha(r).update(api_token="x"),
    "a device named as a credential": lambda r: asha(r)["devices"].update(api_key="100290"),
    "a device name with a space": lambda r: asha(r)["devices"].update({"two words": "100290"}),
    "a wrong number": lambda r: asha(r)["devices"].update(mobile="+12"),
    "a reference with spaces around": lambda r: asha(r)["devices"].update(mobile=" +919953125068 "),
    "one device twice in an agent": lambda r: asha(r)["devices"].update(mobile="dev-a1"),
    "one device in two agents": lambda r: r["agents"]["ravi"]["devices"].update(desk="DEV-A1"),
    "one reference in two accounts": lambda r: (
        r["agents"]["ravi"].update(account="other"),
        r["agents"]["ravi"]["devices"].update(desk="Dev-A1"),
    ),
    "no devices": lambda r: asha(r).update(devices={}),
    "a bare name of an agent with two devices": lambda r: members(r, "asha", "ravi"),
    "a member with spaces": lambda r: members(r, " asha : desk ", "ravi "),
    "an unknown device": lambda r: members(r, "asha:phone", "ravi"),
    "a member twice": lambda r: members(r, "asha:desk", "ravi", "ravi"),
    "an agent twice, by two devices": lambda r: members(r, "asha:desk", "asha:mobile", "ravi"),
    "an unknown member": lambda r: members(r, "asha:desk", "ravi", "nobody"),
    "a member that is a list": lambda r: members(r, "asha:desk", ["ravi"]),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_each_rule_alike_on_both_paths(edit: Any) -> None:
    roster = base()
    edit(roster)
    text = yaml.safe_dump(roster, sort_keys=False)
    short = parsed(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        the_long_way(monkeypatch)
        long = parsed(text)
    assert short == long


def test_a_plain_agent_is_read_at_once_and_anything_else_is_left() -> None:
    accounts: Any = {"main": object()}
    refs: dict[tuple[str, str], tuple[str, str]] = {}
    body: dict[str, Any] = {"account": "main", "user_id": "u-1", "devices": {"desk": "100280"}}
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
    assert [str(m) for m in plain_members([" asha "], agents) or ()] == ["asha:m"]
    assert [str(m) for m in plain_members(["asha : m"], agents) or ()] == ["asha:m"]
    assert plain_members(["asha", "asha"], agents) is None  # twice
    assert plain_members(["asha:desk"], agents) is None  # no such device
    assert plain_members(["nobody"], agents) is None
