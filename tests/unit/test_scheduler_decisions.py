"""The scheduler's decisions, as tables: what it knows in, what a reconcile does out.

No database and no clock: the facts are a :class:`~scheduler.decisions.Known`, whether an
account can be read and whether an unknown device still waits for its read are given.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.decisions import (
    NEVER,
    READ_GIVE_UP,
    Known,
    Reading,
    Unsent,
    next_drift,
    to_read,
    unwanted,
    waits_for_read,
    what_differs,
)
from shiftswitch.drift import Managed
from shiftswitch.models import CheckKind
from tests.rosters import make_roster

# asha: desk (id 100280), mobile (by number); ravi: desk (id 100281).
ROSTER = make_roster(
    [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}]
)
DESIRED = {"asha": "desk", "ravi": None}  # asha's desk ON, the rest OFF
ASHA_DESK, RAVI_DESK, ASHA_MOBILE = (
    ("main", "u-0", "100280"),
    ("main", "u-1", "100281"),
    (
        "main",
        "u-0",
        "100290",
    ),
)
RESOLVED = {("main", "+919953125068"): ("u-0", "100290")}
ALL_OFF = {ASHA_DESK: False, RAVI_DESK: False, ASHA_MOBILE: False}
T = datetime(2026, 11, 30, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("known", "readable", "waits", "differing", "unknown"),
    [
        pytest.param(
            Known(confirmed=ALL_OFF, resolved=RESOLVED), True, True,
            [("asha", "desk", True)], [], id="confirmed OFF, wanted ON: set",
        ),
        pytest.param(
            Known(confirmed={**ALL_OFF, ASHA_DESK: True}, resolved=RESOLVED), True, True,
            [], [], id="as wanted: nothing",
        ),
        pytest.param(
            Known(frozenset({("asha", "desk")}), ALL_OFF, RESOLVED), True, True,
            [], [], id="an action under way: left to it",
        ),
        pytest.param(
            Known(confirmed={**ALL_OFF, RAVI_DESK: None}, resolved=RESOLVED), True, True,
            [("asha", "desk", True), ("ravi", "desk", False)], [],
            id="unverified (available null), wanted OFF: set",
        ),
        pytest.param(
            Known(), True, True,
            [], ["asha/desk", "asha/mobile", "ravi/desk"],
            id="never confirmed, readable: read first",
        ),
        pytest.param(
            Known(), False, True,
            [("asha", "desk", True), ("asha", "mobile", False), ("ravi", "desk", False)], [],
            id="never confirmed, not readable: set, its state unknown",
        ),
        pytest.param(
            Known(), True, False,
            [("asha", "desk", True), ("asha", "mobile", False), ("ravi", "desk", False)], [],
            id="never confirmed, its read given up: set",
        ),
        pytest.param(
            Known(confirmed=ALL_OFF), True, True,
            [("asha", "desk", True)], ["asha/mobile"],
            id="a number not resolved yet: read",
        ),
        pytest.param(
            Known(confirmed=ALL_OFF, resolved=RESOLVED, read_backs={ASHA_DESK: T}), True, True,
            [], [], id="a read-back due: waits, read when due (not listed)",
        ),
        pytest.param(
            Known(confirmed=ALL_OFF, resolved=RESOLVED, read_backs={ASHA_DESK: T}), True, False,
            [("asha", "desk", True)], [], id="a read-back given up: set",
        ),
    ],
)  # fmt: skip
def test_what_a_reconcile_does(
    known: Known,
    readable: bool,
    waits: bool,
    differing: list[tuple[str, str, bool]],
    unknown: list[str],
) -> None:
    found = what_differs(ROSTER, DESIRED, known, lambda _a: readable, lambda _m, _rb: waits)
    assert sorted((a.name, d.name, on) for a, d, on in found.differing) == differing
    assert sorted(f"{m.agent}/{m.device}" for m in found.unknown) == unknown


def test_a_read_back_waits_from_when_it_was_due() -> None:
    seen: list[datetime | None] = []
    known = Known(confirmed=ALL_OFF, resolved=RESOLVED, read_backs={ASHA_DESK: T})

    def waits(_m: object, read_back: datetime | None) -> bool:
        seen.append(read_back)
        return True

    what_differs(ROSTER, DESIRED, known, lambda _a: True, waits)
    assert seen == [T]  # asked only of the device with a read-back, with its due time


@pytest.mark.parametrize(
    ("action", "is_unwanted"),
    [
        (Unsent(1, "asha", "desk", True), False),  # the ON wanted
        (Unsent(2, "asha", "desk", False), True),  # an OFF of the device wanted ON
        (Unsent(3, "asha", "mobile", True), True),  # an ON of a device wanted OFF
        (Unsent(4, "asha", "mobile", False), False),
        (Unsent(5, "ravi", "desk", True), True),  # ravi: nothing ON now
        (Unsent(7, "gone", "desk", False), False),  # an agent no longer named: OFF is right
    ],
)
def test_actions_the_roster_in_force_no_longer_wants(action: Unsent, is_unwanted: bool) -> None:
    assert unwanted([action], DESIRED) == ([action.id] if is_unwanted else [])


# -- reads: which to submit, how long an unknown device waits, when the next drift check is --

DESK = Managed("main", "asha", "desk", "u-0", "100280", None)
MOBILE = Managed("main", "asha", "mobile", "u-0", None, "+919953125068")
OTHER = Managed("spare", "ravi", "desk", "u-1", "100281", None)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("kind", "reading", "submitted", "since"),
    [
        pytest.param(CheckKind.FIRST_READ, {}, [DESK, MOBILE, OTHER], T, id="never submitted: all"),
        pytest.param(
            CheckKind.FIRST_READ, {DESK: Reading(T - 5 * S, CheckKind.FIRST_READ)},
            [MOBILE, OTHER], T, id="under way: not again",
        ),
        pytest.param(
            CheckKind.READ_BACK,
            {DESK: Reading(T - 60 * S, CheckKind.FIRST_READ, again=T - S)},
            [DESK, MOBILE, OTHER], T - 60 * S, id="failed, again due: resubmitted, keeps since",
        ),
        pytest.param(
            CheckKind.FIRST_READ,
            {DESK: Reading(T - 60 * S, CheckKind.FIRST_READ, again=T + S)},
            [MOBILE, OTHER], T, id="failed, again not yet due: waits",
        ),
        pytest.param(
            CheckKind.DRIFT, {DESK: Reading(T - 5 * S, CheckKind.FIRST_READ)},
            [DESK, MOBILE, OTHER], None, id="drift reads everything, records nothing",
        ),
    ],
)  # fmt: skip
def test_which_reads_are_submitted(
    kind: CheckKind,
    reading: dict[Managed, Reading],
    submitted: list[Managed],
    since: datetime | None,
) -> None:
    by_account, recorded = to_read(kind, [DESK, MOBILE, OTHER], reading, T)
    assert [m for ms in by_account.values() for m in ms] == submitted
    assert set(by_account) == {m.account for m in submitted}
    if since is None:
        assert recorded == {}
    else:
        assert set(recorded) == set(submitted)
        assert recorded[submitted[0]].since == since
        assert all(r.kind == kind and r.again == NEVER for r in recorded.values())


@pytest.mark.parametrize(
    ("read_back", "submitted", "down", "waits"),
    [
        pytest.param(None, None, frozenset(), True, id="just asked: waits"),
        pytest.param(None, Reading(T - READ_GIVE_UP + S, CheckKind.FIRST_READ), frozenset(),
                     True, id="submitted under 3 min ago: waits"),
        pytest.param(None, Reading(T - READ_GIVE_UP, CheckKind.FIRST_READ), frozenset(),
                     False, id="submitted 3 min ago: given up"),
        pytest.param(T - READ_GIVE_UP - S, Reading(T, CheckKind.READ_BACK), frozenset(), False,
                     id="read-back due over 3 min ago: given up"),
        pytest.param(T - READ_GIVE_UP - S, None, frozenset({"main"}), True,
                     id="its Exotel is down: waits however long"),
    ],
)  # fmt: skip
def test_how_long_an_unknown_device_waits_for_its_read(
    read_back: datetime | None, submitted: Reading | None, down: frozenset[str], waits: bool
) -> None:
    assert waits_for_read(DESK, read_back, submitted, down, T) is waits


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        pytest.param(None, T + 600 * S, id="none recorded: one interval from now"),
        pytest.param(T - 100 * S, T + 500 * S, id="recorded: one interval after it"),
        pytest.param(T - 900 * S, T, id="overdue: now"),
    ],
)
def test_when_the_next_drift_check_is(last: datetime | None, expected: datetime) -> None:
    assert next_drift(600 * S, last, T) == expected
