"""The sandbox, spoken to as a client speaks to Exotel: real HTTP over loopback."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import yaml

from shiftswitch.sandbox.seed import load_seed, parse_seed
from shiftswitch.sandbox.server import DEFAULT_PORT, Sandbox
from shiftswitch.sandbox.state import Seed
from tests import EXAMPLE_SEED

SEED = str(EXAMPLE_SEED)
AUTH = ("demo-key", "demo-token")
ACCOUNT = "/v2/accounts/acme_corp"
LOG_FIELDS = {
    "seq",
    "request_id",
    "method",
    "path",
    "query",
    "account",
    "user_id",
    "device_id",
    "body",
    "status",
    "error_code",
    "description",
    "started",
    "finished",
    "retry_after",
}


class FakeClock:
    """Time that moves only when a test says so (it stamps the log and the rate windows)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """A requests session on the sandbox, never routed through a proxy from the environment."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.trust_env = False

    def call(self, method: str, path: str, auth: Any = AUTH, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 5)
        return self.session.request(method, self.sandbox.url + path, auth=auth, **kw)

    def put(self, user: str, device: str | int, body: Any, **kw: Any) -> requests.Response:
        return self.call("PUT", f"{ACCOUNT}/users/{user}/devices/{device}", json=body, **kw)

    def users(self, auth: Any = AUTH, **params: Any) -> requests.Response:
        return self.call("GET", f"{ACCOUNT}/users", auth=auth, params=params)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = self.call(method, f"/_sandbox/{path}", auth=None, json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def device(self, user: str, device: int) -> dict[str, Any]:
        state = self.control("GET", "state")["accounts"]["acme_corp"]["users"]
        found = [d for u in state if u["id"] == user for d in u["devices"] if d["id"] == device]
        assert len(found) == 1
        return dict(found[0])


def error(r: requests.Response) -> tuple[int, Any, str]:
    body = r.json()
    assert body["http_code"] == r.status_code
    assert body["response"]["status"] == "failure" and body["response"]["data"] is None
    data = body["response"]["error_data"]
    return r.status_code, data["code"], data["description"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    sb = Sandbox(load_seed(SEED), port=0, clock=clock).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> Client:
    return Client(sandbox)


@contextmanager
def running(seed: Seed, **kw: Any) -> Iterator[Client]:
    """A sandbox of its own for one test, on a free port."""
    sandbox = Sandbox(seed, port=0, **kw).start()
    try:
        yield Client(sandbox)
    finally:
        sandbox.stop()


def account(users: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"api_key": "demo-key", "api_token": "demo-token", "users": users, **more}


def two_accounts() -> Seed:
    user = {"id": "x-1", "first_name": "X", "devices": [{"id": 1, "contact_uri": "+919900000001"}]}
    other = {"api_key": "other-key", "api_token": "other-token", "users": [user]}
    return parse_seed({"accounts": {"acme_corp": account([]), "other": other}})


# -- the device PUT ---------------------------------------------------------------------------


def test_switch_on_answers_the_device_in_the_envelope_and_is_idempotent(client: Client) -> None:
    r = client.put("u-100", 100280, {"available": True})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"request_id", "method", "http_code", "response"}
    assert len(body["request_id"]) == 32 and int(body["request_id"], 16) >= 0
    assert (body["method"], body["http_code"]) == ("PUT", 200)
    assert body["response"] == {
        "code": 200,
        "error_data": None,
        "status": "success",
        "data": {
            "id": 100280,
            "name": "Desk",
            "contact_uri": "+919953125001",
            "type": "tel",
            "available": True,
            "verified": True,
            "status": "free",
        },
    }
    assert client.put("u-100", 100280, {"available": True}).status_code == 200
    off = client.put("u-100", "100280", {"available": False})
    assert off.json()["response"]["data"]["available"] is False


@pytest.mark.parametrize(
    "auth",
    [None, ("demo-key", "wrong-token"), ("nobody", "demo-token"), ("", ""), "Bearer demo-token"],
)
def test_missing_or_wrong_credentials_are_401(client: Client, auth: Any) -> None:
    headers = {"Authorization": auth} if isinstance(auth, str) else {}
    r = client.put(
        "u-100",
        100280,
        {"available": True},
        auth=None if isinstance(auth, str) else auth,
        headers=headers,
    )
    assert error(r) == (401, 1010, "Authentication failed")
    assert client.device("u-100", 100280)["available"] is False


def test_unknown_account_without_valid_credentials_is_401(client: Client) -> None:
    r = client.call("GET", "/v2/accounts/nosuch/users", auth=("x", "y"))
    assert error(r) == (401, 1010, "Authentication failed")


def test_credentials_of_another_account_are_403() -> None:
    with running(two_accounts()) as c:
        r = c.call("GET", "/v2/accounts/other/users", auth=AUTH)
        assert error(r) == (403, 1003, "API credentials used are unauthorized")
        r = c.call("PUT", "/v2/accounts/other/users/x-1/devices/1", json={"available": True})
        assert error(r) == (403, 1003, "API credentials used are unauthorized")
        r = c.call("GET", "/v2/accounts/nosuch/users", auth=AUTH)
        assert r.status_code == 403
        ok = c.call("GET", "/v2/accounts/other/users", auth=("other-key", "other-token"))
        assert ok.status_code == 200


def test_one_device_on_per_user(client: Client) -> None:
    assert client.put("u-100", 100280, {"available": True}).status_code == 200
    r = client.put("u-100", 100290, {"available": True})
    assert error(r) == (403, 1003, "Another device is ON. Only one device can be ON at a time")
    assert client.device("u-100", 100290)["available"] is False
    # Turning the other device OFF is allowed while one is ON; then the second may go ON.
    assert client.put("u-100", 100290, {"available": False}).status_code == 200
    assert client.put("u-100", 100280, {"available": False}).status_code == 200
    assert client.put("u-100", 100290, {"available": True}).status_code == 200
    # Another user's device is no obstacle.
    assert client.put("u-101", 100281, {"available": True}).status_code == 200


def test_unverified_device_cannot_be_switched(client: Client) -> None:
    client.control("PUT", "devices/acme_corp/u-101/100281", {"verified": False})
    for available in (True, False):
        r = client.put("u-101", 100281, {"available": available})
        assert error(r) == (403, 1003, "Device is unverified")
    device = client.device("u-101", 100281)
    assert (device["available"], device["verified"], device["status"]) == (None, False, None)


@pytest.mark.parametrize(
    ("user", "device"), [("u-999", 100280), ("u-100", 100281), ("u-100", 999), ("u-100", "x")]
)
def test_unknown_user_or_device_is_404(client: Client, user: str, device: str | int) -> None:
    r = client.put(user, device, {"available": True})
    assert error(r) == (404, 1018, "Device not found")


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"available": True, "contact_uri": "+919953125099"}, 1007, "in the same request"),
        ({}, 1007, "available"),
        ({"availble": True}, 1007, "available"),
        ({"available": "true"}, 1007, "true or false"),
        ({"available": None}, 1007, "true or false"),
        ({"available": 1}, 1007, "true or false"),
        ([{"available": True}], 1000, "JSON object"),
        (None, 1000, "JSON object"),
        (b"available=true", 1000, "not JSON"),
        (b'{"available": tru\xff}', 1000, "not UTF-8"),
    ],
)
def test_bad_bodies_are_400(client: Client, body: Any, code: int, says: str) -> None:
    path = f"{ACCOUNT}/users/u-100/devices/100280"
    if isinstance(body, bytes):
        r = client.call("PUT", path, data=body, headers={"Content-Type": "application/json"})
    else:
        r = client.call("PUT", path, json=body)
    status, got_code, description = error(r)
    assert (status, got_code) == (400, code)
    assert says in description
    if code == 1007 and "same request" in says:
        assert description == "device_contact_uri cannot be updated in the same request"


@pytest.mark.parametrize(
    "number", ["919953125068", "+0919953125068", "+91 9953125068", "+91", "+9199531250681234", 91]
)
def test_contact_uri_must_be_e164(client: Client, number: Any) -> None:
    status, code, description = error(client.put("u-100", 100280, {"contact_uri": number}))
    assert (status, code) == (400, 1007)
    assert "E.164" in description


def test_contact_uri_already_used_in_the_account_is_409(client: Client) -> None:
    r = client.put("u-100", 100280, {"contact_uri": "+919953125002"})  # ravi's desk
    assert error(r) == (409, 1021, "Device already exists")
    assert client.device("u-100", 100280)["contact_uri"] == "+919953125001"


def test_contact_uri_of_a_sip_device_is_403(client: Client) -> None:
    r = client.put("u-102", 100282, {"contact_uri": "+919953125099"})
    assert error(r) == (403, 1003, "This device is not PSTN. Operation not permitted")


def test_new_contact_uri_must_be_verified_again(client: Client) -> None:
    assert client.put("u-100", 100280, {"available": True}).status_code == 200
    r = client.put("u-100", 100280, {"contact_uri": "+919953125099"})
    assert r.status_code == 200
    data = r.json()["response"]["data"]
    assert (data["contact_uri"], data["verified"], data["available"], data["status"]) == (
        "+919953125099",
        False,
        None,
        None,
    )
    assert error(client.put("u-100", 100280, {"available": True}))[2] == "Device is unverified"
    # The old number is free again; the other device is no longer blocked by an ON one.
    assert client.put("u-100", 100290, {"available": True}).status_code == 200


# -- the user GETs ----------------------------------------------------------------------------


def test_paging_through_120_users() -> None:
    users = [
        {
            "id": f"p-{i:03}",
            "first_name": f"P{i}",
            "devices": [{"id": i, "contact_uri": f"sip:p{i}"}],
        }
        for i in range(120)
    ]
    seed = parse_seed({"accounts": {"acme_corp": account(users)}})
    with running(seed) as c:
        seen: list[str] = []
        pages: list[dict[str, int]] = []
        offset = 0
        while True:
            body = c.users(fields="devices", offset=offset, limit=50).json()
            pages.append(body["metadata"])
            assert all(
                item["code"] == 200 and item["status"] == "success" for item in body["response"]
            )
            seen += [item["data"]["id"] for item in body["response"]]
            offset += body["metadata"]["count"]
            if offset >= body["metadata"]["total"]:
                break
        assert seen == [u["id"] for u in users]
        assert pages == [
            {"total": 120, "count": 50, "offset": 0, "limit": 50},
            {"total": 120, "count": 50, "offset": 50, "limit": 50},
            {"total": 120, "count": 20, "offset": 100, "limit": 50},
        ]
        assert c.users().json()["metadata"] == {"total": 120, "count": 20, "offset": 0, "limit": 20}
        past = c.users(offset=500).json()
        assert past["response"] == [] and past["metadata"]["count"] == 0
        for bad in ({"limit": 51}, {"limit": 0}, {"limit": "ten"}, {"offset": -1}, {"offset": "x"}):
            status, _, description = error(c.users(**bad))
            assert status == 400 and next(iter(bad)) in description


def test_devices_are_listed_only_when_asked_for(client: Client) -> None:
    plain = client.users().json()["response"][0]["data"]
    assert plain == {"id": "u-100", "first_name": "Asha", "last_name": "K", "email": None}
    full = client.users(fields="devices").json()["response"][0]["data"]
    assert [d["id"] for d in full["devices"]] == [100280, 100290]


def test_contact_uri_filter(client: Client) -> None:
    def ids(query: str) -> list[str]:
        r = client.call("GET", f"{ACCOUNT}/users?fields=devices&{query}")
        assert r.status_code == 200, r.text
        return [item["data"]["id"] for item in r.json()["response"]]

    assert ids("devices.contact_uri=%2B919953125068") == ["u-100"]
    assert ids("devices.contact_uri=%2B919953125002%2C%2B919953125068") == ["u-100", "u-101"]
    assert ids("devices.contact_uri=%2B919953125002,sip:meera.k") == ["u-101", "u-102"]
    assert ids("devices.contact_uri=+919953125002") == ["u-101"]  # "+" read as a space
    assert ids("devices.contact_uri=%2B919900000000") == []
    r = client.users(**{"fields": "devices", "devices.contact_uri": "+919953125001,+919953125002"})
    assert r.json()["metadata"]["total"] == 2
    assert error(client.call("GET", f"{ACCOUNT}/users?devices.contact_uri="))[0] == 400


def test_one_user(client: Client) -> None:
    r = client.call("GET", f"{ACCOUNT}/users/u-102")
    data = r.json()["response"]["data"]
    assert (r.status_code, data["id"], data["devices"][0]["type"]) == (200, "u-102", "sip")
    assert error(client.call("GET", f"{ACCOUNT}/users/u-999")) == (404, 1018, "User not found")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"{ACCOUNT}/agents", 404),
        ("GET", "/V2/accounts/acme_corp/users", 404),
        ("GET", f"{ACCOUNT}/users/u-100/devices", 404),
        ("GET", "/", 404),
        ("POST", f"{ACCOUNT}/users", 405),
        ("GET", f"{ACCOUNT}/users/u-100/devices/100280", 405),
        ("DELETE", f"{ACCOUNT}/users/u-100", 405),
        ("PATCH", f"{ACCOUNT}/users/u-100/devices/100280", 405),
    ],
)
def test_unknown_paths_and_methods(client: Client, method: str, path: str, status: int) -> None:
    r = client.call(method, path)
    assert r.status_code == status and r.json()["response"]["status"] == "failure"
    if status == 405:
        assert r.headers["Allow"] in ("GET", "PUT")


def raw(sandbox: Sandbox, request: str) -> bytes:
    """Send bytes no HTTP library would, and read the answer to the end."""
    host, port = sandbox.url.removeprefix("http://").split(":")
    chunks = []
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request.encode())
        conn.shutdown(socket.SHUT_WR)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_requests_get_an_answer_not_a_traceback(
    client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    put = f"PUT {ACCOUNT}/users/u-100/devices/100280 HTTP/1.1\r\n"
    short = "The body is shorter than its Content-Length"
    for request, status, says in (  # the API's own envelope
        (f"{put}Content-Length: ten\r\n\r\n", 400, "Bad Content-Length"),
        (f"{put}Content-Length: 50\r\n\r\n{{}}", 400, short),
        (f"{put}Transfer-Encoding: chunked\r\n\r\n", 411, "Send the body with a Content-Length"),
    ):
        head, _, body = raw(client.sandbox, request).partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
        answer = json.loads(body)
        assert (answer["http_code"], answer["response"]["status"]) == (status, "failure")
        assert answer["response"]["error_data"]["description"] == says
    head, _, body = raw(client.sandbox, "BREW /pot HTTP/1.1\r\n\r\n").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 "), head
    assert json.loads(body) == {"error": "Unsupported method ('BREW')"}
    garbage = json.loads(raw(client.sandbox, "garbage\r\n\r\n"))  # HTTP/0.9: no head
    assert garbage == {"error": "Bad request syntax ('garbage')"}
    health = client.call("HEAD", "/_sandbox/health", auth=None)
    assert health.status_code == 200 and health.content == b""
    assert client.call("HEAD", f"{ACCOUNT}/users").status_code == 200
    assert "Traceback" not in capfd.readouterr().err


# -- rate limit -------------------------------------------------------------------------------


def test_rate_limit_429_with_retry_after(client: Client, clock: FakeClock) -> None:
    client.control("PUT", "faults", {"rate_limits": {"acme_corp": "3/s"}})
    for _ in range(2):  # failed authentication does not count
        assert client.users(auth=None).status_code != 429
    remaining = [client.users().headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    r = client.put("u-100", 100280, {"available": True})
    assert error(r) == (429, None, "Too many requests")
    assert (r.headers["Retry-After"], r.headers["X-RateLimit-Limit"]) == ("1", "3")
    assert client.device("u-100", 100280)["available"] is False
    clock.now += 0.5
    assert client.users().status_code == 429  # 429s do not count, and the window still holds 3
    clock.now += 0.5
    assert client.put("u-100", 100280, {"available": True}).status_code == 200
    entry = client.control("GET", "log")["requests"][-2]
    assert (entry["status"], entry["retry_after"]) == (429, 1)


def test_rate_limit_429_without_retry_after(client: Client) -> None:
    client.control("PUT", "faults", {"rate_limits": {"acme_corp": "1/min"}, "retry_after": False})
    assert client.users().status_code == 200
    r = client.users()
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert client.control("GET", "log")["requests"][-1]["retry_after"] is None


def test_rate_limit_window_slides(client: Client, clock: FakeClock) -> None:
    client.control("PUT", "faults", {"rate_limits": {"acme_corp": "3/s"}})
    start = clock.now
    assert client.users().status_code == 200  # t=0
    clock.now = start + 0.5
    assert [client.users().status_code for _ in range(3)] == [200, 200, 429]
    clock.now = start + 1.0  # the request at t=0 has left the window: one slot
    assert [client.users().status_code for _ in range(2)] == [200, 429]
    client.control("PUT", "faults", {"rate_limits": {"acme_corp": "2/min"}})
    clock.now = start + 100
    assert [client.users().status_code for _ in range(2)] == [200, 200]
    clock.now = start + 110
    assert client.users().headers["Retry-After"] == "50"  # ceil(100 + 60 - 110)
    client.control("PUT", "faults", {"rate_limits": {"acme_corp": None}})
    assert client.users().status_code == 200
    assert "X-RateLimit-Limit" not in client.users().headers


def test_seed_rate_limit_applies(clock: FakeClock) -> None:
    text = EXAMPLE_SEED.read_text().replace("# rate_limit: 50/min", "rate_limit: 2/s")
    seed = parse_seed(yaml.safe_load(text))
    with running(seed, clock=clock) as c:
        assert [c.users().status_code for _ in range(3)] == [200, 200, 429]
        assert c.control("GET", "faults")["rate_limits"] == {"acme_corp": "2/s"}


# -- faults -----------------------------------------------------------------------------------


def test_fault_500_twice_then_success(client: Client) -> None:
    rules = [{"status": 500, "times": 2, "method": "put"}]
    assert client.control("PUT", "faults", {"rules": rules})["rules"][0]["times"] == 2
    assert client.users().status_code == 200  # a GET does not match
    for left in (1, 0):
        r = client.put("u-100", 100280, {"available": True})
        assert error(r) == (500, 1004, "Internal Server Error")
        assert len(client.control("GET", "faults")["rules"]) == left
    assert client.device("u-100", 100280)["available"] is False
    assert client.put("u-100", 100280, {"available": True}).status_code == 200
    log = client.control("GET", "log")["requests"]
    assert [(e["status"], e["error_code"]) for e in log] == [
        (200, None),
        (500, 1004),
        (500, 1004),
        (200, None),
    ]


def test_fault_html_page_and_matching(client: Client) -> None:
    rules = [{"status": 502, "body": "html", "device_id": 100281}, {"status": 503, "times": None}]
    client.control("PUT", "faults", {"rules": rules})
    r = client.put("u-101", 100281, {"available": True})
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in r.text
    with pytest.raises(ValueError):
        r.json()
    for _ in range(3):  # times null: every request until the rules are replaced
        assert error(client.users()) == (503, None, "Service Unavailable")
    client.control("PUT", "faults", {"rules": []})
    assert client.users().status_code == 200
    entry = client.control("GET", "log")["requests"][0]
    assert (entry["status"], entry["description"], entry["device_id"]) == (
        502,
        "Bad Gateway",
        "100281",
    )


def test_fault_429_retry_after(client: Client) -> None:
    rules = [
        {"status": 429, "retry_after": 7},
        {"status": 429, "retry_after": None},
        {"status": 429},
    ]
    client.control("PUT", "faults", {"rules": rules})
    headers = [client.users().headers.get("Retry-After") for _ in range(3)]
    assert headers == ["7", None, "1"]


def test_hang_then_handled_anyway(client: Client, capfd: pytest.CaptureFixture[str]) -> None:
    client.control("PUT", "faults", {"rules": [{"status": "hang", "seconds": 0.5}]})
    began = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.put("u-100", 100280, {"available": True}, timeout=0.1)
    while not client.control("GET", "log")["requests"] and time.monotonic() - began < 3:
        time.sleep(0.02)
    assert time.monotonic() - began >= 0.5
    assert client.control("GET", "log")["requests"][0]["status"] == 200
    assert client.device("u-100", 100280)["available"] is True  # the client never heard
    assert "Traceback" not in capfd.readouterr().err  # writing to a client that left is quiet


def test_latency_is_applied_to_requests_side_by_side() -> None:
    with running(load_seed(SEED), latency_ms=200) as c:

        def one(_: int) -> float:
            began = time.monotonic()
            assert Client(c.sandbox).users().status_code == 200
            return time.monotonic() - began

        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=10) as pool:
            each = list(pool.map(one, range(10)))
        took = time.monotonic() - began
        assert min(each) >= 0.19 and took < 1.0, (each, took)
        c.control("PUT", "faults", {"latency_ms": 0})
        assert c.control("GET", "faults")["latency_ms"] == 0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"rules": [{"status": 404}]}, "rules[0].status"),
        ({"rules": [{"status": 500, "times": 0}]}, "rules[0].times"),
        ({"rules": [{"status": 500}, {"status": 500, "body": "xml"}]}, "rules[1].body"),
        ({"rules": [{"status": "hang", "seconds": -1}]}, "rules[0].seconds"),
        ({"rules": [{"status": 500, "when": "now"}]}, "rules[0].when"),
        ({"rate_limits": {"nosuch": "1/s"}}, "rate_limits.nosuch"),
        ({"rate_limits": {"acme_corp": "lots"}}, "rate_limits.acme_corp"),
        ({"latency_ms": -5}, "latency_ms"),
        ({"retry_after": "no"}, "retry_after"),
        ({"speed": 1}, "speed"),
        ([], "JSON object"),
    ],
)
def test_bad_fault_settings_change_nothing(client: Client, body: Any, says: str) -> None:
    before = client.control("GET", "faults")
    r = client.call(
        "PUT",
        "/_sandbox/faults",
        auth=None,
        json={"latency_ms": 5, **body} if isinstance(body, dict) else body,
    )
    assert r.status_code == 400 and says in r.json()["error"]
    assert client.control("GET", "faults") == before


# -- log, state, reset ------------------------------------------------------------------------


def test_log_fields_and_no_secret_in_it(client: Client, clock: FakeClock) -> None:
    client.put("u-100", 100280, {"available": True})
    clock.now += 1
    client.put("u-100", 100280, {"available": True}, auth=("demo-key", "wrong-token"))
    client.users(**{"fields": "devices", "devices.contact_uri": "+919953125001"})
    client.control("GET", "state")  # control calls are not logged
    text = client.call("GET", "/_sandbox/log", auth=None).text
    for secret in ("demo-token", "wrong-token", base64.b64encode(b"demo-key:demo-token").decode()):
        assert secret not in text
    assert "Authorization" not in text and "Basic" not in text
    log = json.loads(text)["requests"]
    assert [set(e) for e in log] == [LOG_FIELDS] * 3
    first, second, third = log
    assert first == {
        **first,
        "seq": 1,
        "method": "PUT",
        "path": f"{ACCOUNT}/users/u-100/devices/100280",
        "account": "acme_corp",
        "user_id": "u-100",
        "device_id": "100280",
        "body": {"available": True},
        "status": 200,
        "error_code": None,
        "description": None,
        "retry_after": None,
        "started": 1_800_000_000.0,
        "finished": 1_800_000_000.0,
    }
    assert (second["seq"], second["status"], second["error_code"]) == (2, 401, 1010)
    assert second["started"] == 1_800_000_001.0
    assert (third["user_id"], third["body"]) == (None, None)
    assert "devices.contact_uri=%2B919953125001" in third["query"]
    assert [e["seq"] for e in client.control("GET", "log?since=1")["requests"]] == [2, 3]
    assert client.control("DELETE", "log") == {"requests": []}
    assert client.control("GET", "log") == {"requests": []}


def test_verbose_lines_carry_no_credentials(capfd: pytest.CaptureFixture[str]) -> None:
    with running(load_seed(SEED), verbose=True) as c:
        c.put("u-100", 100280, {"available": True})
    err = capfd.readouterr().err
    assert f"PUT {ACCOUNT}/users/u-100/devices/100280 200" in err
    assert "demo-token" not in err and "Basic" not in err


def test_control_device_change_skips_the_rules(client: Client) -> None:
    for device in (100280, 100290):
        client.control("PUT", f"devices/acme_corp/u-100/{device}", {"available": True})
    assert client.device("u-100", 100290)["available"] is True  # two ON: the API would refuse
    changed = client.control(
        "PUT", "devices/acme_corp/u-101/100281", {"verified": False, "contact_uri": "+919900000009"}
    )
    assert (changed["verified"], changed["available"], changed["contact_uri"]) == (
        False,
        None,
        "+919900000009",
    )
    back = client.control("PUT", "devices/acme_corp/u-101/100281", {"verified": True})
    assert (back["verified"], back["available"], back["status"]) == (True, False, "free")
    assert client.control("GET", "log") == {"requests": []}
    r = client.call(
        "PUT", "/_sandbox/devices/acme_corp/u-101/999", auth=None, json={"verified": True}
    )
    assert r.status_code == 404
    r = client.call("PUT", "/_sandbox/devices/acme_corp/u-101/100281", auth=None, json={"on": 1})
    assert r.status_code == 400 and "on" in r.json()["error"]


def test_reset_restores_the_seed(client: Client) -> None:
    initial = client.control("GET", "state")
    client.put("u-100", 100280, {"available": True})
    client.control("PUT", "devices/acme_corp/u-101/100281", {"verified": False})
    client.control(
        "PUT",
        "faults",
        {
            "latency_ms": 10,
            "jitter_ms": 20,
            "retry_after": False,
            "rate_limits": {"acme_corp": "1/s"},
            "rate_modes": {"acme_corp": "strict"},
            "rules": [{"status": 500}],
        },
    )
    assert client.control("POST", "reset") == {"ok": True}
    assert client.control("GET", "state") == initial
    assert client.control("GET", "log") == {"requests": []}
    client.users()
    assert client.control("GET", "log")["requests"][0]["seq"] == 2  # seq goes on after a reset
    assert client.control("GET", "faults") == {
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
        "retry_after": True,
        "rate_limits": {"acme_corp": None},
        "rate_modes": {"acme_corp": "window"},
        "rules": [],
        "app_changes": [],
    }
    assert [client.users().status_code for _ in range(3)] == [200, 200, 200]


def test_control_api_shapes(client: Client) -> None:
    assert client.control("GET", "health") == {"ok": True}
    users = client.control("GET", "state")["accounts"]["acme_corp"]["users"]
    assert [(u["id"], [d["id"] for d in u["devices"]]) for u in users] == [
        ("u-100", [100280, 100290]),
        ("u-101", [100281]),
        ("u-102", [100282]),
    ]
    assert all(d["available"] is False and d["verified"] for u in users for d in u["devices"])
    assert client.call("GET", "/_sandbox/nothing", auth=None).status_code == 404
    assert client.call("POST", "/_sandbox/log", auth=None).status_code == 405


def test_serve_forever_tells_the_url_and_stops() -> None:
    sandbox = Sandbox(load_seed(SEED), port=0)
    urls: list[str] = []
    thread = threading.Thread(target=sandbox.serve_forever, args=(urls.append,))
    thread.start()
    while not urls and thread.is_alive():
        time.sleep(0.01)
    assert urls == [sandbox.url] and not urls[0].endswith(":0")
    assert Client(sandbox).control("GET", "health") == {"ok": True}
    sandbox.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_start_stop_and_url() -> None:
    sb = Sandbox(load_seed(SEED), port=0)
    assert DEFAULT_PORT == 8090 and Sandbox(load_seed(SEED)).url == "http://127.0.0.1:8090"
    sb.start()
    port = int(sb.url.rsplit(":", 1)[1])
    assert port > 0
    with pytest.raises(RuntimeError):
        sb.start()
    sb.stop()
    sb.stop()
    assert sb.url == f"http://127.0.0.1:{port}"
    with pytest.raises(requests.ConnectionError):
        Client(sb).call("GET", "/_sandbox/health")
