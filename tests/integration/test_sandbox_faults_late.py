"""The sandbox's late-applying requests, devices changed in Exotel's app, and the request counts:
real HTTP over loopback, with the sandbox's clock real or moved by the test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from shiftswitch.sandbox.seed import load_seed
from tests.integration.test_sandbox import (
    SEED,
    Client,
    FakeClock,
    error,
    running,
    two_accounts,
)

DESK = "/v2/accounts/acme_corp/users/u-100/devices/100280"
ANOTHER_IS_ON = (403, 1003, "Another device is ON. Only one device can be ON at a time")


def wait_for(what: Callable[[], Any], seconds: float = 5.0) -> Any:
    """``what()`` once it is truthy; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (value := what()):
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)
    return value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[Client]:
    """A sandbox whose clock the test moves (app changes fall due when it says)."""
    with running(load_seed(SEED), clock=clock) as c:
        yield c


@pytest.fixture
def live() -> Iterator[Client]:
    """A sandbox on the real clock, for holds and app changes that take real seconds."""
    with running(load_seed(SEED)) as c:
        yield c


def log(c: Client) -> list[dict[str, Any]]:
    return list(c.control("GET", "log")["requests"])


# -- a request applied late -------------------------------------------------------------------


def test_on_held_past_the_client_timeout_lands_after_the_off_answered_meanwhile(
    live: Client,
) -> None:
    hold = {
        "status": "hang",
        "seconds": 1.5,
        "method": "PUT",
        "device_id": "100280",
        "available": True,
    }
    rules = live.control("PUT", "faults", {"rules": [hold]})["rules"]
    assert rules == [{**hold, "times": 1}]
    assert live.put("u-100", 100280, {"available": False}).status_code == 200  # an OFF: not held
    assert live.control("GET", "faults")["rules"] == [{**hold, "times": 1}]

    sent_on = time.time()
    with pytest.raises(requests.exceptions.ReadTimeout):  # the client gives up on the ON
        live.put("u-100", 100280, {"available": True}, timeout=0.5)
    assert live.control("GET", "faults")["rules"] == []  # the ON took the rule
    began = time.monotonic()
    other = Client(live.sandbox)  # the next boundary's OFF, while the ON is still held
    off = other.put("u-100", 100280, {"available": False}, timeout=1.0)
    assert off.status_code == 200 and time.monotonic() - began < 0.5
    assert off.json()["response"]["data"]["available"] is False
    assert live.device("u-100", 100280)["available"] is False  # what a read-back sees now
    user = other.call("GET", "/v2/accounts/acme_corp/users/u-100").json()["response"]["data"]
    assert [d["available"] for d in user["devices"]] == [False, False]

    # The held ON lands when its 1.5 s are over, over the OFF answered after it was sent.
    wait_for(lambda: len(log(live)) == 4, seconds=3)
    assert live.device("u-100", 100280)["available"] is True
    first_off, off_entry, user_entry, on_entry = log(live)
    assert (on_entry["method"], on_entry["path"], on_entry["body"]) == (
        "PUT",
        DESK,
        {"available": True},
    )
    assert on_entry["status"] == 200  # answered to a client that had left
    assert on_entry["started"] < off_entry["started"] < off_entry["finished"]
    assert on_entry["finished"] - on_entry["started"] >= 1.5
    assert on_entry["finished"] - sent_on < 3
    assert (first_off["body"], off_entry["body"], user_entry["method"]) == (
        {"available": False},
        {"available": False},
        "GET",
    )


def test_held_requests_of_other_devices_wait_side_by_side(live: Client) -> None:
    hold = {"status": "hang", "seconds": 0.6, "times": None, "available": True}
    live.control("PUT", "faults", {"rules": [hold]})
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(
            pool.map(
                lambda p: Client(live.sandbox).put(p[0], p[1], {"available": True}).status_code,
                [("u-100", 100280), ("u-101", 100281), ("u-102", 100282)],
            )
        )
    assert answers == [200, 200, 200] and time.monotonic() - began < 1.2


def test_a_held_on_is_handled_when_it_lands_and_keeps_one_device_on(live: Client) -> None:
    """Held, a request is handled as if it arrived when it lands: the API's rules apply then."""
    hold = {"status": "hang", "seconds": 0.8, "device_id": "100280", "available": True}
    live.control("PUT", "faults", {"rules": [hold]})
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(live.put, "u-100", 100280, {"available": True})
        wait_for(lambda: live.control("GET", "faults")["rules"] == [])
        # Meanwhile the user's other device is switched ON through the API.
        assert Client(live.sandbox).put("u-100", 100290, {"available": True}).status_code == 200
        assert error(held.result(timeout=3)) == ANOTHER_IS_ON
    assert live.device("u-100", 100280)["available"] is False
    assert live.device("u-100", 100290)["available"] is True


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"status": "hang", "available": "yes"}, "rules[0].available"),
        ({"status": 500, "available": 1}, "rules[0].available"),
    ],
)
def test_bad_available_in_a_rule_is_400(client: Client, rule: Any, says: str) -> None:
    r = client.call("PUT", "/_sandbox/faults", auth=None, json={"rules": [rule]})
    assert r.status_code == 400 and says in r.json()["error"]
    assert client.control("GET", "faults")["rules"] == []


def test_available_false_matches_only_offs(client: Client) -> None:
    client.control("PUT", "faults", {"rules": [{"status": 503, "available": False}]})
    assert client.put("u-100", 100280, {"available": True}).status_code == 200
    assert client.put("u-101", 100281, {"contact_uri": "+919900000009"}).status_code == 200
    assert client.users().status_code == 200
    assert error(client.put("u-100", 100280, {"available": False}))[0] == 503
    assert client.device("u-100", 100280)["available"] is True


# -- devices changed in Exotel's app ----------------------------------------------------------


def test_app_change_falls_due_after_its_seconds(client: Client, clock: FakeClock) -> None:
    change = {"user_id": "u-100", "device_id": 100290, "available": True, "after": 3}
    shown = client.control("PUT", "faults", {"app_changes": [change]})["app_changes"]
    assert shown == [
        {
            "account": "acme_corp",
            "user_id": "u-100",
            "device_id": "100290",
            "available": True,
            "at": clock.now + 3,
        }
    ]
    clock.now += 2
    assert client.device("u-100", 100290)["available"] is False
    clock.now += 1
    assert client.device("u-100", 100290)["available"] is True
    assert client.control("GET", "faults")["app_changes"] == []
    # The API sees what the agent did, and its rules hold against it.
    assert error(client.put("u-100", 100280, {"available": True})) == ANOTHER_IS_ON
    assert [e["method"] for e in log(client)] == ["PUT"]  # the app's change is not an API request


def test_app_changes_in_time_order_and_at_a_set_time(client: Client, clock: FakeClock) -> None:
    start = clock.now
    changes = [
        {"account": "acme_corp", "user_id": "u-101", "device_id": "100281", "available": False,
         "at": start + 20},
        {"user_id": "u-101", "device_id": "100281", "available": True, "after": 10},
        {"user_id": "u-102", "device_id": "100282", "verified": False, "after": 10},
    ]  # fmt: skip
    shown = client.control("PUT", "faults", {"app_changes": changes})["app_changes"]
    assert [c["at"] - start for c in shown] == [10, 10, 20]
    clock.now = start + 15
    users = client.users(fields="devices").json()["response"]
    devices = {u["data"]["id"]: u["data"]["devices"][0] for u in users}
    assert devices["u-101"]["available"] is True
    assert (devices["u-102"]["verified"], devices["u-102"]["available"]) == (False, None)
    clock.now = start + 20
    assert client.device("u-101", 100281)["available"] is False
    assert client.control("GET", "faults")["app_changes"] == []


def test_app_change_on_the_real_clock(live: Client) -> None:
    change = {"user_id": "u-102", "device_id": 100282, "available": True, "after": 0.3}
    began = time.monotonic()
    live.control("PUT", "faults", {"app_changes": [change]})
    wait_for(lambda: live.device("u-102", 100282)["available"], seconds=3)
    assert time.monotonic() - began >= 0.3


def test_held_on_lands_over_an_app_change_made_meanwhile(live: Client) -> None:
    hold = {"status": "hang", "seconds": 0.8, "device_id": "100280", "available": True}
    live.control("PUT", "faults", {"rules": [hold]})
    live.control("PUT", "devices/acme_corp/u-100/100280", {"available": True})
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(live.put, "u-100", 100280, {"available": True})
        wait_for(lambda: live.control("GET", "faults")["rules"] == [])
        off = {"user_id": "u-100", "device_id": 100280, "available": False, "after": 0.1}
        live.control("PUT", "faults", {"app_changes": [off]})  # the agent turns it OFF
        wait_for(lambda: live.device("u-100", 100280)["available"] is False)
        assert held.result(timeout=3).status_code == 200
    assert live.device("u-100", 100280)["available"] is True


def test_app_changes_replace_the_list_and_go_on_reset(client: Client) -> None:
    one = {"user_id": "u-100", "device_id": 100290, "available": True, "after": 60}
    client.control("PUT", "faults", {"app_changes": [one, one]})
    client.control("PUT", "faults", {"rules": [], "latency_ms": 0})  # left out: kept
    assert len(client.control("GET", "faults")["app_changes"]) == 2
    assert client.control("PUT", "faults", {"app_changes": [one]})["app_changes"][0]["at"]
    client.control("POST", "reset")
    assert client.control("GET", "faults")["app_changes"] == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"device_id": 100280, "available": True, "after": 1}, "app_changes[0].user_id"),
        ({"user_id": "u-100", "device_id": 999, "available": True, "after": 1}, "no device 999"),
        ({"user_id": "u-100", "device_id": 100280, "available": 1, "after": 1}, ".available"),
        ({"user_id": "u-100", "device_id": 100280, "verified": None, "after": 1}, ".verified"),
        ({"user_id": "u-100", "device_id": 100280, "contact_uri": " ", "after": 1}, "contact_uri"),
        ({"user_id": "u-100", "device_id": 100280, "after": 1}, "some of available"),
        ({"user_id": "u-100", "device_id": 100280, "available": True}, "one of after"),
        ({"user_id": "u-100", "device_id": 100280, "available": True, "after": 1, "at": 1}, "one"),
        ({"user_id": "u-100", "device_id": 100280, "available": True, "after": -1}, ".after"),
        ({"user_id": "u-100", "device_id": 100280, "available": True, "at": "soon"}, ".at"),
        ({"user_id": "u-100", "device_id": 100280, "available": True, "in": 1}, ".in: unknown"),
        ("u-100", "app_changes[0]: expected an object"),
    ],
)
def test_bad_app_changes_change_nothing(client: Client, change: Any, says: str) -> None:
    before = client.control("GET", "faults")
    body = {"latency_ms": 5, "app_changes": [change]}
    r = client.call("PUT", "/_sandbox/faults", auth=None, json=body)
    assert r.status_code == 400 and says in r.json()["error"], r.text
    assert client.control("GET", "faults") == before


def test_app_change_names_its_account_when_the_seed_has_two() -> None:
    with running(two_accounts()) as c:
        change = {"user_id": "x-1", "device_id": 1, "available": True, "after": 0}
        r = c.call("PUT", "/_sandbox/faults", auth=None, json={"app_changes": [change]})
        assert r.status_code == 400
        assert r.json() == {"error": "app_changes[0].account: needed, the seed has 2"}
        c.control("PUT", "faults", {"app_changes": [{**change, "account": "other"}]})
        users = c.control("GET", "state")["accounts"]["other"]["users"]
        assert users[0]["devices"][0]["available"] is True


# -- counting the requests --------------------------------------------------------------------


def test_counts_by_method_status_device_and_user(client: Client) -> None:
    empty = {"requests": 0, "methods": {}, "statuses": {}, "devices": {}, "users": {}}
    assert client.control("GET", "counts") == empty
    for _ in range(3):
        client.users(fields="devices")
    client.call("GET", "/v2/accounts/acme_corp/users/u-101")
    client.put("u-100", 100280, {"available": True})
    client.put("u-100", 100280, {"available": False})
    client.put("u-100", 100290, {"available": True}, auth=("demo-key", "wrong"))
    client.call("HEAD", "/v2/accounts/acme_corp/users")
    assert client.control("GET", "counts") == {
        "requests": 8,
        "methods": {"GET": 4, "PUT": 3, "HEAD": 1},
        "statuses": {"200": 7, "401": 1},
        "devices": {"acme_corp/u-100/100280": {"PUT": 2}, "acme_corp/u-100/100290": {"PUT": 1}},
        "users": {"acme_corp/u-101": {"GET": 1}, "acme_corp/u-100": {"PUT": 3}},
    }
    since = log(client)[5]["seq"]
    assert client.control("GET", f"counts?since={since}")["methods"] == {"PUT": 1, "HEAD": 1}
    client.control("DELETE", "log")
    assert client.control("GET", "counts") == empty
    r = client.call("GET", "/_sandbox/counts?since=x", auth=None)
    assert r.status_code == 400 and "since" in r.json()["error"]


def test_counts_wait_for_a_held_request_to_be_answered(live: Client) -> None:
    live.control("PUT", "faults", {"rules": [{"status": "hang", "seconds": 0.5}]})
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(live.users)
        wait_for(lambda: live.control("GET", "faults")["rules"] == [])
        assert live.control("GET", "counts")["requests"] == 0
        assert held.result(timeout=3).status_code == 200
    assert live.control("GET", "counts")["methods"] == {"GET": 1}
