"""The worker's decisions, as tables: the facts and Exotel's answer in, what to do out.

No database, no Redis, no clock: an action is a detached row, the facts a
:class:`~shiftswitch.turns.Turn`, an answer an :class:`~shiftswitch.exotel.Outcome`, and jitter
is always the least it can be (so delays are exact).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiftswitch.actions import Sibling
from shiftswitch.exotel import Device, Kind, Outcome, User
from shiftswitch.models import Action, ActionKind, DeviceState, Status
from shiftswitch.retry import RetryPolicy
from shiftswitch.turns import Earlier, Later, Turn
from worker.decisions import (
    AwaitExotel,
    Finish,
    LeavePending,
    ReadUser,
    Resolve,
    Resolved,
    Retry,
    Send,
    Succeed,
    TurnOffFirst,
    Wait,
    after_conflict_read,
    after_lookup,
    after_number_read,
    after_put,
    before_sending,
)

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)
POLICY = RetryPolicy(base_delay=1.0, max_delay=60.0, max_attempts=4, max_age=600.0)
NEW = "+919953125077"
MOBILE = {"device": "mobile", "device_id": "100290", "contact_uri": None}
BY_NUMBER = {"device": "cell", "device_id": None, "contact_uri": "+919953125068"}


class LeastJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def action(**changes: Any) -> Action:
    """asha's desk ON, due at T0, in its first attempt; ``changes`` to its columns."""
    columns: dict[str, Any] = {
        "id": 10,
        "key": "schedule:day/asha/desk/on",
        "source": "schedule",
        "user_key": "main/u-100",
        "account": "main",
        "sid": "acme_corp",
        "base_url": "http://127.0.0.1:8090",
        "rate_limit": "10/s",
        "agent": "asha",
        "device": "desk",
        "user_id": "u-100",
        "device_id": "100280",
        "contact_uri": None,
        "siblings": [MOBILE],
        "wants_on": True,
        "kind": ActionKind.SWITCH,
        "new_contact_uri": None,
        "shift": "day",
        "override": None,
        "due_at": T0,
        "status": Status.RUNNING,
        "attempts": 1,
        "started_at": T0,
        "finished_at": None,
        "retry_at": None,
        "reason": None,
    }
    return Action(**{**columns, **changes})


def number_change(**changes: Any) -> Action:
    return action(kind=ActionKind.NUMBER, wants_on=False, new_contact_uri=NEW, **changes)


def failed_off(device: str = "mobile", status: Status = Status.FAILED, **changes: Any) -> Action:
    columns: dict[str, Any] = {
        "id": 9,
        "device": device,
        "device_id": "100290",
        "wants_on": False,
        "status": status,
        "reason": "Exotel refused: 400 Bad request",
        "finished_at": T0,
    }
    return action(**{**columns, **changes})


def confirmed(available: bool | None, at: datetime) -> DeviceState:
    return DeviceState(account="main", user_id="u-100", device_id="100290",
                       available=available, confirmed_at=at)  # fmt: skip


LATER = Later(11, "schedule", T0 + timedelta(hours=8))
SUPERSEDED = "action 11 (schedule, due 2026-11-30 17:00:00Z) came after it for the same device"
BLOCKED = (
    "the OFF of mobile (action 9) before it did not succeed (failed: Exotel refused: 400 Bad "
    "request); that device may still be ON"
)
OFF_MOBILE = "schedule:day/asha/desk/on/off:mobile"


def _off_keys(decision: object) -> object:
    if isinstance(decision, TurnOffFirst):
        return [(o.key, o.device, o.device_id, o.wants_on, o.due_at) for o in decision.offs]
    return decision


@pytest.mark.parametrize(
    ("turn", "credentials_missing", "expected"),
    [
        pytest.param(Turn(action()), None, Send("PUT available=true"), id="send an ON"),
        pytest.param(
            Turn(action(wants_on=False)), None, Send("PUT available=false"), id="send an OFF"
        ),
        pytest.param(
            Turn(action(retry_at=T0 + timedelta(seconds=30))),
            None,
            Wait(30.0),
            id="a retry planned later: wait for it",
        ),
        pytest.param(
            Turn(action(retry_at=T0 - timedelta(seconds=1))),
            None,
            Send("PUT available=true"),
            id="a retry planned before now: go",
        ),
        pytest.param(Turn(action(), paused=True), None, LeavePending(), id="paused"),
        pytest.param(Turn(action(), exotel_down=True), None, AwaitExotel(), id="Exotel down"),
        pytest.param(
            Turn(action(retry_at=T0 + timedelta(seconds=30)), exotel_down=True),
            None,
            AwaitExotel(),
            id="Exotel down: its return, not the backoff, says when",
        ),
        pytest.param(
            Turn(action(), later=LATER, exotel_down=True),
            None,
            Finish(Status.SUPERSEDED, SUPERSEDED),
            id="Exotel down: what a later switch undoes is superseded all the same",
        ),
        pytest.param(
            Turn(action(), paused=True, exotel_down=True),
            None,
            LeavePending(),
            id="paused and Exotel down: paused",
        ),
        pytest.param(
            Turn(action(), later=LATER),
            None,
            Finish(Status.SUPERSEDED, SUPERSEDED),
            id="a later switch of the device undoes it",
        ),
        pytest.param(
            Turn(action(retry_at=T0 + timedelta(seconds=30)), later=LATER),
            None,
            Finish(Status.SUPERSEDED, SUPERSEDED),
            id="undone while waiting for its retry: superseded now, not after the wait",
        ),
        pytest.param(
            Turn(number_change(retry_at=T0 + timedelta(seconds=30)), later=LATER),
            None,
            Wait(30.0),
            id="a number change waits for its retry whatever comes after",
        ),
        pytest.param(
            Turn(action(retry_at=T0 + timedelta(seconds=30)), later=LATER, paused=True),
            None,
            LeavePending(),
            id="undone while paused: left for the resume",
        ),
        pytest.param(
            Turn(action(), later=LATER),
            "EXOTEL_MAIN_API_KEY is not set",
            Finish(Status.SUPERSEDED, SUPERSEDED),
            id="superseded before credentials matter",
        ),
        pytest.param(
            Turn(number_change(), later=LATER),
            None,
            Send(f"PUT contact_uri={NEW}"),
            id="a number change is never superseded",
        ),
        pytest.param(
            Turn(action(), earlier=(Earlier(failed_off()),)),
            None,
            Finish(Status.BLOCKED, BLOCKED),
            id="an OFF before it failed: blocked",
        ),
        pytest.param(
            Turn(action(), earlier=(Earlier(failed_off(status=Status.BLOCKED)),)),
            None,
            Finish(Status.BLOCKED, BLOCKED.replace("(failed:", "(blocked:")),
            id="an OFF before it blocked: blocked",
        ),
        pytest.param(
            Turn(action(), earlier=(Earlier(failed_off(), confirmed(False, T0)),)),
            None,
            Send("PUT available=true"),
            id="the device confirmed OFF since: go",
        ),
        pytest.param(
            Turn(
                action(),
                earlier=(Earlier(failed_off(), confirmed(False, T0 - timedelta(seconds=1))),),
            ),
            None,
            Finish(Status.BLOCKED, BLOCKED),
            id="confirmed OFF before it failed",
        ),
        pytest.param(
            Turn(action(), earlier=(Earlier(failed_off(), confirmed(True, T0)),)),
            None,
            Finish(Status.BLOCKED, BLOCKED),
            id="confirmed ON since: blocked",
        ),
        pytest.param(
            Turn(
                action(),
                earlier=(
                    Earlier(failed_off(id=12, status=Status.SUCCEEDED)),
                    Earlier(failed_off()),
                ),
            ),
            None,
            Send("PUT available=true"),
            id="a later OFF of that device succeeded",
        ),
        pytest.param(
            Turn(action(), earlier=(Earlier(failed_off(device="desk")),)),
            None,
            Send("PUT available=true"),
            id="a failed OFF of the same device blocks nothing",
        ),
        pytest.param(
            Turn(number_change(), earlier=(Earlier(failed_off()),)),
            None,
            Send(f"PUT contact_uri={NEW}"),
            id="a number change is never blocked",
        ),
        pytest.param(
            Turn(action()),
            "EXOTEL_MAIN_API_KEY is not set",
            Finish(Status.FAILED, "EXOTEL_MAIN_API_KEY is not set"),
            id="no credentials",
        ),
        pytest.param(
            Turn(action(device_id=None, contact_uri="+919953125001")),
            None,
            Resolve("+919953125001"),
            id="a number to look up",
        ),
        pytest.param(
            Turn(action(device_id=None, contact_uri="+919953125001"), resolved=("u-1", "7")),
            None,
            Resolved("u-1", "7"),
            id="a number looked up before",
        ),
        pytest.param(
            Turn(action(), siblings_on=(Sibling("mobile", "100290", None),)),
            None,
            [(OFF_MOBILE, "mobile", "100290", False, T0)],
            id="another device ON: OFF first",
        ),
        pytest.param(
            Turn(
                action(),
                siblings_on=(Sibling("mobile", "100290", None),),
                offs_recorded=frozenset({OFF_MOBILE}),
            ),
            None,
            Send("PUT available=true"),
            id="its OFF recorded before: go",
        ),
        pytest.param(
            Turn(action(wants_on=False), siblings_on=(Sibling("mobile", "100290", None),)),
            None,
            Send("PUT available=false"),
            id="an OFF turns nothing else OFF",
        ),
    ],
)
def test_before_sending(turn: Turn, credentials_missing: str | None, expected: object) -> None:
    assert _off_keys(before_sending(turn, T0, credentials_missing)) == expected


def answer(
    status: int | None,
    description: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
    users: tuple[User, ...] = (),
) -> Outcome:
    """Exotel's answer as the client gives it (status None: no answer)."""
    if status is None:
        kind = Kind.RETRY
    elif 200 <= status < 300:
        kind = Kind.OK
    else:
        kind = Kind.RETRY if status in (408, 429) or status >= 500 else Kind.FINAL
    return Outcome(kind, status, code, description, "r-1", retry_after, 0.05, users=users)


OK = answer(200)
TIMEOUT = answer(None, "timeout after 10.0 s (no answer from ccm-api.exotel.com)")
NOT_SENT = Outcome(
    Kind.FINAL, None, None, "not sent: http://collector.example is not Exotel's", None, None, 0.0
)
ANOTHER_ON = answer(403, "Another device is ON. Only one device can be ON at a time", "1003")
TAKEN = answer(409, "Device already exists", "1021")
TAKEN_REASON = (
    f"{NEW} is already the number of another device in Exotel account acme_corp; choose "
    "another number (Exotel: 409 1021 Device already exists [request r-1])"
)


@pytest.mark.parametrize(
    ("sent", "outcome", "expected"),
    [
        pytest.param(action(), OK, Succeed(OK), id="ok"),
        pytest.param(
            action(),
            answer(429, "Too many requests", retry_after=7),
            Retry(7.0, answer(429, "Too many requests", retry_after=7)),
            id="429: its Retry-After",
        ),
        pytest.param(action(), answer(500), Retry(0.5, answer(500)), id="500: backoff"),
        pytest.param(
            action(attempts=3), answer(503), Retry(2.0, answer(503)), id="503: backoff grows"
        ),
        pytest.param(action(), TIMEOUT, Retry(0.5, TIMEOUT), id="no answer: backoff"),
        pytest.param(
            action(attempts=4),
            TIMEOUT,
            Finish(
                Status.FAILED,
                "gave up after 4 attempts in 0 s: "
                "timeout after 10.0 s (no answer from ccm-api.exotel.com) [request r-1]",
                TIMEOUT,
            ),
            id="out of attempts",
        ),
        pytest.param(
            action(started_at=T0 - timedelta(seconds=599.8)),
            answer(502),
            Finish(
                Status.FAILED,
                "gave up after 1 attempts in 600 s: 502 no description [request r-1]",
                answer(502),
            ),
            id="out of time",
        ),
        pytest.param(action(), ANOTHER_ON, ReadUser(ANOTHER_ON), id="ON: another device ON"),
        pytest.param(
            action(),
            NOT_SENT,
            Finish(Status.FAILED, NOT_SENT.summary(), NOT_SENT),
            id="not sent (host not allowed): final, and no refusal of Exotel's",
        ),
        pytest.param(
            action(wants_on=False),
            ANOTHER_ON,
            Finish(Status.FAILED, f"Exotel refused: {ANOTHER_ON.summary()}", ANOTHER_ON),
            id="OFF: 403 is final",
        ),
        pytest.param(
            action(),
            answer(403, "Device is unverified", "1003"),
            Finish(
                Status.FAILED,
                "Exotel refused: 403 1003 Device is unverified [request r-1]",
                answer(403, "Device is unverified", "1003"),
            ),
            id="ON: another 403 is final",
        ),
        pytest.param(
            number_change(),
            TAKEN,
            Finish(Status.FAILED, TAKEN_REASON, TAKEN),
            id="number: 409 at once is a number taken",
        ),
        pytest.param(
            number_change(attempts=2),
            TAKEN,
            ReadUser(TAKEN),
            id="number: 409 after a lost answer: read",
        ),
        pytest.param(
            number_change(),
            answer(403, "This device is not PSTN", "1003"),
            Finish(
                Status.FAILED,
                "Exotel changes the number only of phone (PSTN) devices; this "
                "one is a SIP soft-phone (Exotel: 403 1003 This device is not PSTN [request "
                "r-1])",
                answer(403, "This device is not PSTN", "1003"),
            ),
            id="number: a SIP device",
        ),
    ],
)
def test_after_put(sent: Action, outcome: Outcome, expected: object) -> None:
    assert after_put(sent, outcome, T0, POLICY, LeastJitter()) == expected


@pytest.mark.parametrize(
    ("sent", "outcome", "expected"),
    [
        pytest.param(action(), answer(500), Retry(0.0, answer(500)), id="5xx: at once"),
        pytest.param(
            action(attempts=4), TIMEOUT, Retry(0.0, TIMEOUT), id="out of attempts: no give-up"
        ),
        pytest.param(
            action(started_at=T0 - timedelta(seconds=599.8)),
            answer(502),
            Retry(0.0, answer(502)),
            id="out of time: no give-up",
        ),
        pytest.param(
            action(),
            answer(429, retry_after=5.0),
            Retry(5.0, answer(429, retry_after=5.0)),
            id="a 429 is an answer: its Retry-After holds",
        ),
        pytest.param(action(), OK, Succeed(OK), id="success"),
    ],
)
def test_after_put_while_exotel_is_down(sent: Action, outcome: Outcome, expected: object) -> None:
    """The action is taken again at once, to be left pending until Exotel answers a probe."""
    assert after_put(sent, outcome, T0, POLICY, LeastJitter(), down=True) == expected


def device(device_id: str, name: str, on: bool | None, uri: str | None = None) -> Device:
    return Device(device_id, name, uri, "tel", on, True, "active")


def read(*devices: Device) -> Outcome:
    return answer(200, users=(User("u-100", "Asha K", devices),))


DESK = device("100280", "Desk", False)
REFUSED = f"Exotel refused: {ANOTHER_ON.summary()}"


@pytest.mark.parametrize(
    ("sent", "outcome", "managed", "recorded", "expected"),
    [
        pytest.param(
            action(),
            read(DESK, device("100290", "Mobile", True)),
            [Sibling("mobile", "100290", None)],
            frozenset(),
            [(OFF_MOBILE, "mobile", "100290", False, T0)],
            id="a managed device ON: OFF first",
        ),
        pytest.param(
            action(siblings=[BY_NUMBER]),
            read(DESK, device("100291", "Cell", True, BY_NUMBER["contact_uri"])),
            [],
            frozenset(),
            [("schedule:day/asha/desk/on/off:cell", "cell", "100291", False, T0)],
            id="a managed device ON, known by its number",
        ),
        pytest.param(
            action(),
            read(DESK, device("100299", "Personal", True, "+919953125004")),
            [Sibling("mobile", "100290", None)],
            frozenset(),
            Finish(
                Status.FAILED,
                "conflict: another device is ON: Personal +919953125004 (id "
                "100299), which the roster does not manage; turn it OFF in Exotel or add it "
                "to the agent's devices",
                ANOTHER_ON,
            ),
            id="a device the roster does not name: conflict",
        ),
        pytest.param(
            action(),
            read(DESK, device("100290", "Mobile", False)),
            [],
            frozenset(),
            Retry(0.5, read(DESK, device("100290", "Mobile", False))),
            id="nothing ON any more: the ON again",
        ),
        pytest.param(
            action(),
            read(DESK, device("100290", "Mobile", True)),
            [Sibling("mobile", "100290", None)],
            frozenset({OFF_MOBILE}),
            Finish(Status.FAILED, f"{REFUSED}, again after turning the others OFF"),
            id="turned OFF before, ON again",
        ),
        pytest.param(
            action(), TIMEOUT, [], frozenset(), Retry(0.5, TIMEOUT), id="no answer to the read"
        ),
        pytest.param(
            action(),
            answer(404, "User not found", "1018"),
            [],
            frozenset(),
            Finish(
                Status.FAILED, f"{REFUSED}; reading the user: 404 1018 User not found [request r-1]"
            ),
            id="the read refused",
        ),
    ],
)
def test_after_conflict_read(
    sent: Action,
    outcome: Outcome,
    managed: list[Sibling],
    recorded: frozenset[str],
    expected: object,
) -> None:
    decision = after_conflict_read(
        sent, ANOTHER_ON, outcome, managed, recorded, T0, POLICY, LeastJitter()
    )
    assert _off_keys(decision) == expected


HAS_IT = read(device("100280", "Desk", None, NEW))


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(
            HAS_IT,
            Succeed(replace(HAS_IT, device=device("100280", "Desk", None, NEW))),
            id="the device has the number: done",
        ),
        pytest.param(
            read(device("100280", "Desk", None, "+919953125001")),
            Finish(Status.FAILED, TAKEN_REASON, TAKEN),
            id="it has not: the number is taken",
        ),
        pytest.param(TIMEOUT, Retry(1.0, TIMEOUT), id="no answer to the read"),
    ],
)
def test_after_number_read(outcome: Outcome, expected: object) -> None:
    sent = number_change(attempts=2)
    assert after_number_read(sent, TAKEN, outcome, T0, POLICY, LeastJitter()) == expected


@pytest.mark.parametrize(
    ("outcome", "found", "expected"),
    [
        pytest.param(OK, ("u-100", "100280"), Resolved("u-100", "100280"), id="found"),
        pytest.param(
            OK,
            None,
            Finish(
                Status.FAILED,
                "no device with contact URI +919953125001 in "
                "Exotel account acme_corp; check the number in the roster",
            ),
            id="no such number",
        ),
        pytest.param(
            answer(401, "Authentication failed"),
            None,
            Finish(
                Status.FAILED,
                "looking up +919953125001: 401 Authentication failed [request r-1]",
                answer(401, "Authentication failed"),
            ),
            id="refused",
        ),
        pytest.param(TIMEOUT, None, Retry(0.5, TIMEOUT), id="no answer"),
    ],
)
def test_after_lookup(outcome: Outcome, found: tuple[str, str] | None, expected: object) -> None:
    sent = action(device_id=None, contact_uri="+919953125001")
    assert after_lookup(sent, outcome, found, T0, POLICY, LeastJitter()) == expected
