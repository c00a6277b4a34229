"""``device set-number``, its pure parts: the check of the number, the action it records, the
wording of Exotel's refusals, and the stored roster given the new number."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from shiftswitch.exotel import Kind, Outcome
from shiftswitch.manual import manual_action
from shiftswitch.models import ActionKind
from shiftswitch.numbers import number_action, number_problem, refused
from shiftswitch.problems import Refused
from shiftswitch.roster.dump import dump
from shiftswitch.roster.loader import parse_roster
from shiftswitch.sources.store import renumbered
from tests.renumbering import NEW, OLD, RAVIS, roster


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("+919953125068", None),
        ("9953125068", "NUMBER \"9953125068\" is not a phone number in E.164 format: write '+', "),
        ("+91 99531 25068", 'NUMBER "+91 99531 25068" is not in E.164 format: write it as +9199'),
        ("0091-99531-25068", "is not in E.164 format: write it as +919953125068"),
        ("(+91) 99531.25068", "is not in E.164 format: write it as +919953125068"),
        ("+0123456789", "is not a phone number in E.164 format"),
        ("sip:asha.k", "is not a phone number in E.164 format"),
        ("+9199531250681234", "is not a phone number in E.164 format"),  # 16 digits
    ],
)
def test_number_problem(number: str, problem: str | None) -> None:
    found = number_problem(number)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_number_action_is_a_manual_number_change_that_sends_no_state() -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    action = number_action(roster(), "asha", "mobile", NEW, at)
    assert (action.kind, action.source, action.new_contact_uri, action.contact_uri) == (
        ActionKind.NUMBER,
        "manual",
        NEW,
        OLD,
    )
    assert (action.user_id, action.device_id, action.wants_on, action.due_at) == (
        "u-100",
        None,
        False,
        at,
    )
    assert action.key.startswith("manual:") and action.key.endswith("/number")
    assert manual_action(roster(), True, at, agent="asha", device="desk").kind == "switch"


@pytest.mark.parametrize(
    ("agent", "device", "number", "problem"),
    [
        ("kiran", "app", NEW, "kiran app is a SIP soft-phone in the roster (sip:kiran.p); Exotel"),
        ("asha", "mobile", OLD, f"asha mobile has the number {OLD} already; nothing to change"),
        ("nobody", "desk", NEW, 'unknown agent "nobody"; agents are: asha, kiran, meera'),
        ("asha", "laptop", NEW, 'agent "asha" has no device "laptop"; devices are: desk, mobile'),
    ],
)
def test_number_action_refuses(agent: str, device: str, number: str, problem: str) -> None:
    with pytest.raises(Refused) as caught:
        number_action(roster(), agent, device, number, datetime.now(UTC))
    assert str(caught.value).startswith(problem)


def _outcome(http: int, description: str, code: str = "1003") -> Outcome:
    return Outcome(Kind.FINAL, http, code, description, "req-1", None, 0.1)


def test_refusals_say_what_they_mean() -> None:
    taken = refused(_outcome(409, "Device already exists", "1021"), RAVIS, "acme_corp")
    assert taken == (
        f"{RAVIS} is already the number of another device in Exotel account acme_corp; "
        "choose another number (Exotel: 409 1021 Device already exists [request req-1])"
    )
    sip = refused(_outcome(403, "This device is not PSTN. Operation not permitted"), NEW, "a")
    assert sip == (
        "Exotel changes the number only of phone (PSTN) devices; this one is a SIP soft-phone "
        "(Exotel: 403 1003 This device is not PSTN. Operation not permitted [request req-1])"
    )
    other = refused(_outcome(403, "This is a trial account. Operation not permitted"), NEW, "a")
    assert other == (
        "Exotel refused: 403 1003 This is a trial account. Operation not permitted [request req-1]"
    )


def test_a_stored_roster_that_no_longer_gives_the_old_number_is_left_as_it_is() -> None:
    """Between recording the change and its success, another write gave the device anew."""
    r = roster()
    renumbered_roster = parse_roster(dump(renumbered(r, "asha", "mobile", OLD, NEW)))
    assert renumbered_roster.agents["asha"].devices["mobile"].ref == NEW
    assert renumbered_roster.agents["asha"].devices["mobile"].kind == "tel"
    assert dataclasses.replace(
        renumbered_roster, agents=r.agents, warnings=()
    ) == dataclasses.replace(r, warnings=())
    edited = parse_roster(dump(renumbered(r, "asha", "mobile", OLD, RAVIS)))
    assert dump(renumbered(edited, "asha", "mobile", OLD, NEW)) == dump(edited)
    gone = dataclasses.replace(r, agents=MappingProxyType({"meera": r.agents["meera"]}))
    assert dump(renumbered(gone, "asha", "mobile", OLD, NEW)) == dump(gone)
