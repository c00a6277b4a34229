"""The pure parts of knowing a device's real state: how a read is made, what it finds, when a
read waits, which failed requests leave a device unknown, and the settings for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
)

from scheduler.checks import Checker, Reader, ReadJob, read_everyone
from shiftswitch.drift import Managed, compare
from shiftswitch.exotel import Device, Kind, Outcome, User
from shiftswitch.exotel_transport import maybe_sent
from shiftswitch.models import CheckKind
from shiftswitch.pacing import RateLimit, parse_rate
from shiftswitch.roster.model import Account
from shiftswitch.settings import ConfigError, Settings
from tests.twins import TestTime

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


def m(agent: str, user_id: str | None = "u-1", device_id: str | None = "d-1") -> Managed:
    uri = None if device_id else f"+91{agent}"
    return Managed("main", agent, "desk", user_id, device_id, uri)


def device(id: str, on: bool | None, uri: str | None = None) -> Device:
    return Device(id, "Desk", uri, "phone", on, True, "active")


# -- how a read is made -------------------------------------------------------------------------


def test_a_few_users_are_read_one_by_one_and_many_by_pages() -> None:
    few = [m("a", "u-1", "d-1"), m("b", "u-2", "d-2")]
    assert not read_everyone(few, users_in_account=500)  # 2 GETs, not 10
    many = [m(f"a{i}", f"u-{i}", f"d-{i}") for i in range(11)]
    assert read_everyone(many, users_in_account=500)  # 10 pages beat 11 GETs
    assert not read_everyone(many[:10], users_in_account=500)


def test_a_device_known_only_by_its_number_needs_the_pages() -> None:
    assert read_everyone([m("a", "u-1", None)], users_in_account=10_000)


# -- what a read finds --------------------------------------------------------------------------


def test_compare_finds_the_devices_not_as_wanted_and_those_missing() -> None:
    users = [
        User("u-1", "Asha", (device("d-1", True),)),
        User("u-2", "Ravi", (device("d-2", False), device("d-9", True, "+91ravi"))),
    ]
    devices = [
        m("asha", "u-1", "d-1"),  # ON, wanted OFF: drifted
        m("ravi", "u-2", "d-2"),  # OFF, wanted OFF
        Managed("main", "meera", "desk", None, None, "+91ravi"),  # by number: ON, wanted ON
        m("gone", "u-3", "d-3"),  # no such user
    ]
    found = compare(devices, users, {"meera": "desk"}, T0)
    assert found.devices == 4
    assert [(f.agent, f.wanted, f.found) for f in found.findings] == [
        ("asha", False, True),
        ("gone", False, None),
    ]
    assert {(s.agent, s.available, s.confirmed_at) for s in found.states} == {
        ("asha", True, T0),
        ("ravi", False, T0),
        ("meera", True, T0),
    }
    assert [(r.contact_uri, r.user_id, r.device_id) for r in found.resolved] == [
        ("+91ravi", "u-2", "d-9")
    ]


# -- when a read waits: switches first, and never near a boundary -------------------------------


@dataclass
class CountingReader:
    time: TestTime
    pace: object
    sent: list[datetime] = field(default_factory=list)

    def get_user(self, user_id: str) -> Outcome:
        self.pace()  # type: ignore[operator]
        self.sent.append(self.time.now())
        user = User(user_id, user_id, (device("d-1", False),))
        return Outcome(Kind.OK, 200, None, None, None, None, 0.01, users=(user,))

    def list_users(self, contact_uris: Sequence[str] | None = None) -> Outcome:
        raise AssertionError("not paged")


@dataclass
class BusyBudget:
    """An account whose slots are taken ahead by switches until ``free_from``."""

    time: TestTime
    free_from: datetime
    asked: list[float] = field(default_factory=list)

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]:
        self.asked.append(max_wait)
        wait = (self.free_from - self.time.now()).total_seconds()
        return (True, 0.0) if wait <= 0 else (False, wait)


RATE = parse_rate("60/min")
assert RATE is not None
ACCOUNT = Account("main", "acme", "http://127.0.0.1:1", None, RATE)


def checker(time: TestTime, budget: BusyBudget | None) -> tuple[Checker, list[CountingReader]]:
    readers: list[CountingReader] = []

    def reader_for(_account: Account, pace: object) -> Reader:
        readers.append(CountingReader(time, pace))
        return readers[-1]

    return Checker(reader_for, budget, time, sleep=time.sleep), readers  # type: ignore[arg-type]


def job() -> ReadJob:
    return ReadJob(CheckKind.DRIFT, ACCOUNT, (m("a"),), everyone=False)


def test_a_read_takes_only_a_slot_no_switch_has_taken() -> None:
    time = TestTime(T0)
    budget = BusyBudget(time, free_from=T0 + timedelta(seconds=7))
    chk, readers = checker(time, budget)
    result = chk.read(job())
    assert result.error is None and result.reads == 1
    assert set(budget.asked) == {0}  # never queues behind the switches: free now, or not at all
    (sent,) = readers[-1].sent
    assert T0 + timedelta(seconds=7) <= sent < T0 + timedelta(seconds=8)


def test_no_read_goes_near_a_boundary() -> None:
    time = TestTime(T0)
    chk, readers = checker(time, None)
    boundary = T0 + timedelta(seconds=1)
    chk.boundaries = (None, boundary)
    chk.read(job())
    (sent,) = readers[-1].sent
    # The guard: 2 s, or one slot and a second (60/min: 1 s + 1 s) either side of the boundary.
    assert sent >= boundary + timedelta(seconds=2)


def test_a_read_far_from_any_boundary_goes_at_once() -> None:
    time = TestTime(T0)
    chk, readers = checker(time, None)
    chk.boundaries = (T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    chk.read(job())
    assert readers[-1].sent == [T0]


# -- which failed requests leave a device unknown ------------------------------------------------


def test_a_request_that_may_have_reached_exotel_is_unanswered() -> None:
    assert maybe_sent(ReadTimeoutError(None, "/", "read timed out"))  # type: ignore[arg-type]
    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert maybe_sent(reset)
    assert maybe_sent(ConnectionResetError(104, "Connection reset by peer"))
    # urllib3 calls a tunnel lost after the request went a ProxyError too
    assert maybe_sent(ProxyError("Unable to connect to proxy", reset))
    assert not maybe_sent(ConnectTimeoutError(None, "/", "connect timed out"))
    refused = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    assert not maybe_sent(refused)
    assert not maybe_sent(ProxyError("Unable to connect to proxy", refused))
    assert not maybe_sent(LocationParseError("a label longer than 63 characters"))


# -- settings ------------------------------------------------------------------------------------


def test_the_settings_of_reading_have_defaults_and_refuse_nonsense() -> None:
    s = Settings.from_env({})
    assert (s.read_back_after, s.drift_every) == (30.0, 900.0)
    assert Settings.from_env({"SHIFTSWITCH_DRIFT_EVERY": "0"}).drift_every == 0
    with pytest.raises(ConfigError, match="SHIFTSWITCH_DRIFT_EVERY=5: use 0"):
        Settings.from_env({"SHIFTSWITCH_DRIFT_EVERY": "5"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_READ_BACK_AFTER"):
        Settings.from_env({"SHIFTSWITCH_READ_BACK_AFTER": "12"})  # timeout 10 + connect 3.05
    with pytest.raises(ConfigError, match="SHIFTSWITCH_DRIFT_EVERY"):
        Settings.from_env({"SHIFTSWITCH_DRIFT_EVERY": "-1"})
