"""The Exotel client against a real HTTP server on loopback that answers what each test scripts
(:class:`tests.scripted_exotel.FakeExotel`)."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shiftswitch import __version__
from shiftswitch.exotel import (
    Device,
    ExotelClient,
    Kind,
    User,
    session,
)
from shiftswitch.hosts import AllowedHosts
from shiftswitch.settings import Credentials
from tests.scripted_exotel import DEVICE, FakeExotel, Reply, Seen, envelope, failure

KEY, TOKEN = "KEY123", "tok-9f3c-SECRET-71aa"
CREDS = Credentials(KEY, TOKEN)
BASIC = base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
SID = "acme1"
HINT = "(check the API key and token, and the account's region"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeExotel]:
    # One server for the module, reset between tests (see ``fake``): quicker than one each.
    running = FakeExotel()
    yield running
    running.close()


@pytest.fixture
def fake(server: FakeExotel) -> Iterator[FakeExotel]:
    yield server
    server.stop.set()
    server.reset()


@pytest.fixture
def client(fake: FakeExotel) -> Iterator[ExotelClient]:
    c = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 2.0))
    yield c
    c.close()


def user(n: int, uri: str | None = None) -> dict[str, Any]:
    device = {**DEVICE, "id": 1000 + n, "contact_uri": uri or f"+9190000{n:05}"}
    return {"id": f"u{n:03}", "first_name": "Agent", "last_name": str(n), "devices": [device]}


def page(users: list[dict[str, Any]], total: int | None, offset: int = 0) -> Any:
    items = [{"code": 200, "error_data": None, "status": "success", "data": u} for u in users]
    body: dict[str, Any] = {"request_id": f"req-{offset}", "method": "GET", "response": items}
    if total is not None:
        body["metadata"] = {"total": total, "count": len(users), "offset": offset, "limit": 50}
    return body


def serve(fake: FakeExotel, *replies: Reply) -> None:
    """Answer with these replies in turn, the last one for ever after."""
    queue = list(replies)
    fake.respond = lambda _: queue.pop(0) if len(queue) > 1 else queue[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# The device PUT


def test_put_available_parses_the_device_and_request_id(
    fake: FakeExotel, client: ExotelClient
) -> None:
    outcome = client.set_available("u1", "100280", True)
    assert outcome.ok and outcome.kind is Kind.OK
    assert outcome.http_code == 200
    assert outcome.request_id == "6b99d8f854244f1eb8bb91d75f1c565a"
    assert outcome.device == Device(
        "100280", "Primary Device", "+919176220000", "tel", True, True, "free"
    )
    assert (outcome.error_code, outcome.description, outcome.retry_after) == (None, None, None)
    assert 0 < outcome.duration < 1
    assert outcome.summary() == "200 OK"
    [seen] = fake.seen
    assert seen.method == "PUT"
    assert seen.path == f"/v2/accounts/{SID}/users/u1/devices/100280"
    assert json.loads(seen.body) == {"available": True}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["user-agent"] == f"shiftswitch/{__version__}"


def test_put_contact_uri_sends_it_alone(fake: FakeExotel, client: ExotelClient) -> None:
    assert client.set_contact_uri("u1", "100280", "+919953125068").ok
    [seen] = fake.seen
    assert (seen.method, seen.path) == ("PUT", f"/v2/accounts/{SID}/users/u1/devices/100280")
    assert json.loads(seen.body) == {"contact_uri": "+919953125068"}  # never with available
    assert seen.headers["content-type"] == "application/json"


def test_put_contact_uri_gives_the_device_unverified(
    fake: FakeExotel, client: ExotelClient
) -> None:
    data = {**DEVICE, "contact_uri": "+919953125068", "verified": False, "available": None}
    serve(fake, Reply(body=envelope({**data, "status": None})))
    outcome = client.set_contact_uri("u1", "100280", "+919953125068")
    assert outcome.ok and outcome.request_id == "6b99d8f854244f1eb8bb91d75f1c565a"
    assert outcome.device == Device(
        "100280", "Primary Device", "+919953125068", "tel", None, False, None
    )


@pytest.mark.parametrize(
    ("status", "code", "description", "kind"),
    [
        (409, 1021, "Device already exists", Kind.FINAL),
        (403, 1003, "This device is not PSTN. Operation not permitted", Kind.FINAL),
        (400, 1007, "contact_uri must be a phone number in E.164 format", Kind.FINAL),
        (404, 1018, "Device not found", Kind.FINAL),
        (429, None, "Too many requests", Kind.RETRY),
        (503, None, "Service Unavailable", Kind.RETRY),
    ],
)
def test_put_contact_uri_errors(
    fake: FakeExotel, client: ExotelClient, status: int, code: Any, description: str, kind: Kind
) -> None:
    serve(fake, Reply(status, failure(status, code, description), {"retry-after": "3"}))
    outcome = client.set_contact_uri("u1", "100280", "+919953125002")
    assert (outcome.kind, outcome.http_code, outcome.description) == (kind, status, description)
    assert outcome.error_code == (None if code is None else str(code))
    assert outcome.retry_after == (3.0 if kind is Kind.RETRY else None)
    assert outcome.device is None


def test_false_is_sent_as_false_and_path_segments_are_quoted(
    fake: FakeExotel, client: ExotelClient
) -> None:
    client.set_available("a/b c", "d?1#", False)
    assert fake.seen[0].path == f"/v2/accounts/{SID}/users/a%2Fb%20c/devices/d%3F1%23"
    assert json.loads(fake.seen[0].body) == {"available": False}


def test_nulls_of_an_unverified_device_are_kept(fake: FakeExotel, client: ExotelClient) -> None:
    data = {"id": "dev-7", "contact_uri": "sip:arjun", "type": "sip", "available": None}
    serve(fake, Reply(body=envelope({**data, "verified": False, "status": None})))
    device = client.set_available("u1", "dev-7", False).device
    assert device == Device("dev-7", None, "sip:arjun", "sip", None, False, None)


ANOTHER_ON = "Another device is ON. Only one device can be ON at a time"


@pytest.mark.parametrize(
    ("status", "code", "description", "kind"),
    [
        (403, 1003, ANOTHER_ON, Kind.FINAL),
        (403, 10810, "Device is unverified", Kind.FINAL),  # the newer pages' code for it
        (400, 1007, "device_contact_uri cannot be updated in the same request", Kind.FINAL),
        (404, 1018, "Device not found", Kind.FINAL),
        (409, 1021, "Device already exists", Kind.FINAL),
        (500, 1004, "Internal Server Error", Kind.RETRY),
        (408, None, "Request timeout", Kind.RETRY),
    ],
)
def test_error_statuses(
    fake: FakeExotel, client: ExotelClient, status: int, code: Any, description: str, kind: Kind
) -> None:
    serve(fake, Reply(status, failure(status, code, description), {"retry-after": "5"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (kind, status)
    assert outcome.error_code == (None if code is None else str(code))
    assert outcome.description == description
    assert outcome.request_id == "6b99d8f854244f1eb8bb91d75f1c565a"
    assert outcome.device is None and not outcome.ok
    assert outcome.retry_after == (5.0 if kind is Kind.RETRY else None)
    expected = " ".join(str(part) for part in (status, code, description) if part is not None)
    assert outcome.summary().startswith(expected)


def test_the_403_another_device_on_summary(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(403, failure(403, 1003, ANOTHER_ON)))
    assert client.set_available("u1", "100280", True).summary() == (
        f"403 1003 {ANOTHER_ON} [request 6b99d8f854244f1eb8bb91d75f1c565a]"
    )


def test_401_suggests_checking_the_region(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(401, failure(401, 1010, "Authentication failed")))
    outcome = client.set_available("u1", "100280", True)
    assert outcome.kind is Kind.FINAL and outcome.error_code == "1010"
    assert outcome.description is not None
    assert outcome.description.startswith(f"Authentication failed {HINT}")
    assert "ccm-api.exotel.com" in outcome.description
    assert "ccm-api.in.exotel.com" in outcome.description


def test_401_from_a_proxy_without_json_also_gets_the_hint(
    fake: FakeExotel, client: ExotelClient
) -> None:
    serve(fake, Reply(401, b"Unauthorized", {"content-type": "text/plain"}))
    description = client.get_user("u1").description or ""
    assert description.startswith(f"HTTP 401 with a non-JSON body (text/plain, 12 bytes) {HINT}")


def test_a_2xx_whose_envelope_says_failure_is_final(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(200, failure(200, 1003, "This is a trial account. Operation not permitted")))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code, outcome.error_code) == (Kind.FINAL, 200, "1003")
    assert outcome.description == "This is a trial account. Operation not permitted"


# 429 and Retry-After


def too_many(code: Any = "NA") -> Any:
    return failure(429, code, "Too many requests")


def test_429_with_retry_after_seconds(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(429, too_many(), {"retry-after": "7"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code, outcome.error_code) == (Kind.RETRY, 429, "NA")
    assert outcome.retry_after == 7.0
    assert outcome.description == "Too many requests"
    assert "(retry after 7 s)" in outcome.summary()


def test_429_with_retry_after_http_date(fake: FakeExotel, client: ExotelClient) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    serve(fake, Reply(429, too_many(None), {"retry-after": when}))
    outcome = client.set_available("u1", "100280", True)
    assert outcome.kind is Kind.RETRY and outcome.error_code is None
    assert outcome.retry_after is not None and 28 <= outcome.retry_after <= 30


def test_429_without_retry_after_and_another_body_shape(
    fake: FakeExotel, client: ExotelClient
) -> None:
    serve(fake, Reply(429, {"message": "Rate limit exceeded"}, {"x-ratelimit-remaining": "0"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.retry_after, outcome.error_code) == (Kind.RETRY, None, None)
    assert outcome.description == "Rate limit exceeded"


# Bodies that are not JSON, or not the JSON Exotel documents

HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.18.0 (Ubuntu) and a long tail of padding to be cut off here</center>
</body>
</html>
"""


def test_502_html_page_from_a_proxy(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(502, HTML_502, {"content-type": "text/html; charset=utf-8"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code, outcome.error_code) == (Kind.RETRY, 502, None)
    # What answered is named by its status and type: its page is no message to show.
    size = len(HTML_502)
    assert outcome.description == f"HTTP 502 with a non-JSON body (text/html, {size} bytes)"


def test_503_with_an_empty_body_and_retry_after(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(503, b"", {"retry-after": "2"}))
    outcome = client.get_user("u1")
    assert (outcome.kind, outcome.retry_after) == (Kind.RETRY, 2.0)
    assert outcome.description == "HTTP 503 with an empty body"


def test_200_with_garbage_is_final_not_ok(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(200, b"\x00\xff\x1b[31mgarbage{"))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.FINAL, 200)
    assert outcome.description == "HTTP 200 with a non-JSON body (application/json, 15 bytes)"


@pytest.mark.parametrize(
    ("body", "accepted_by"),
    [
        ([], ""),
        (None, ""),
        ("success", ""),
        ({"response": None}, ""),
        ({"response": []}, "list"),  # an account with no users
        ({"response": [None]}, ""),
        ({"response": [{"data": {"id": 1, "devices": {}}}]}, "list"),  # {} taken as no devices
        ({"response": [{"data": {"id": 1, "devices": [None]}}]}, ""),
        ({"response": {"status": "success", "data": None}}, ""),
        ({"response": {"data": {"name": "no id"}}}, ""),
        ({"response": {"data": {"id": True}}}, ""),
        ({"response": {"data": "100280"}}, ""),
        ({"response": {"data": {"id": 1, "available": "yes", "devices": "none"}}}, "put"),
        (b"[" * 100_000 + b"]" * 100_000, ""),  # deeper than the JSON decoder's recursion
    ],
)
def test_unexpected_json_never_raises(
    fake: FakeExotel, client: ExotelClient, body: Any, accepted_by: str
) -> None:
    serve(fake, Reply(200, body))
    outcomes = {
        "put": client.set_available("u1", "1", True),
        "get": client.get_user("u1"),
        "list": client.list_users(),
    }
    for call, outcome in outcomes.items():
        if call == accepted_by:
            assert outcome.ok
            continue
        assert (outcome.kind, outcome.http_code) == (Kind.FINAL, 200), call
        assert (outcome.description or "").startswith("HTTP 200 with"), call
    if accepted_by == "put":  # what is not of the documented type is taken as absent
        assert outcomes["put"].device == Device("1", None, None, None, None, None, None)


def test_unexpected_json_on_an_error_status_keeps_the_status(
    fake: FakeExotel, client: ExotelClient
) -> None:
    serve(fake, Reply(500, {"oops": [1, 2]}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.RETRY, 500)
    assert outcome.description == "HTTP 500 with an unexpected JSON body"


def test_redirects_are_not_followed(fake: FakeExotel, client: ExotelClient) -> None:
    # Followed, a 302 would turn the PUT into a GET whose 200 would pass for success.
    serve(fake, Reply(302, b"", {"location": "https://ccm-api.in.exotel.com/v2/x"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.FINAL, 302)
    assert outcome.description == "HTTP 302 with an empty body; redirected to ccm-api.in.exotel.com"
    assert [s.method for s in fake.seen] == ["PUT"]


def test_nothing_is_sent_to_a_host_not_allowed(fake: FakeExotel) -> None:
    # A roster stored or an action recorded before the list changed: the client refuses too.
    client = ExotelClient(fake.url, SID, CREDS, hosts=AllowedHosts())
    outcomes = [
        client.set_available("u1", "100280", True),
        client.set_contact_uri("u1", "100280", "+919876543210"),
        client.get_user("u1"),
        client.list_users(),
        client.find_device("+919876543210")[0],
    ]
    assert {(o.kind, o.http_code) for o in outcomes} == {(Kind.FINAL, None)}
    assert (outcomes[0].description or "").startswith(f"not sent: {fake.url} is not Exotel's")
    assert fake.seen == []


def test_a_redirect_to_another_host_is_not_followed_with_the_credentials(
    fake: FakeExotel,
) -> None:
    elsewhere = FakeExotel()
    try:
        serve(elsewhere, Reply(200, envelope(DEVICE)))
        serve(fake, Reply(307, b"", {"location": f"{elsewhere.url}/v2/accounts/acme1/users/u1"}))
        client = ExotelClient(fake.url, SID, CREDS, hosts=AllowedHosts.parse(fake.url))
        outcome = client.set_available("u1", "100280", True)
        assert (outcome.kind, outcome.http_code) == (Kind.FINAL, 307)
        assert [s.method for s in fake.seen] == ["PUT"]
        assert elsewhere.seen == []
    finally:
        elsewhere.close()


# No answer


def test_read_timeout_is_retry_without_http_code(fake: FakeExotel) -> None:
    serve(fake, Reply(body=envelope(DEVICE), delay=2.0))
    client = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 0.3))
    outcome = client.set_available("u1", "100280", True)
    host = fake.url.removeprefix("http://")
    assert (outcome.kind, outcome.http_code, outcome.error_code) == (Kind.RETRY, None, None)
    assert outcome.description == f"timeout after 0.3 s (no answer from {host})"
    assert outcome.summary() == outcome.description
    assert 0.25 < outcome.duration < 1.5


def test_timeout_in_the_middle_of_the_body(fake: FakeExotel) -> None:
    serve(fake, Reply(body=envelope(DEVICE), delay=2.0, truncate=True))
    client = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 0.3))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.RETRY, None)
    assert (outcome.description or "").startswith("timeout after 0.3 s")


def test_connection_closed_in_the_middle_of_the_body(
    fake: FakeExotel, client: ExotelClient
) -> None:
    serve(fake, Reply(body=envelope(DEVICE), truncate=True))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.RETRY, None)
    assert (outcome.description or "").startswith("connection failed: connection broken")


def test_connection_refused_is_retry() -> None:
    port = closed_port()
    outcome = ExotelClient(f"http://127.0.0.1:{port}", SID, CREDS).get_user("u1")
    assert (outcome.kind, outcome.http_code) == (Kind.RETRY, None)
    assert outcome.description == f"connection failed: connection refused (127.0.0.1:{port})"


def test_a_bad_base_url_is_final_and_nothing_is_sent() -> None:
    outcome = ExotelClient("ccm-api.exotel.com", SID, CREDS).get_user("u1")
    assert (outcome.kind, outcome.http_code) == (Kind.FINAL, None)
    assert (outcome.description or "").startswith("not sent: ccm-api.exotel.com is not Exotel's")


# Credentials


def test_basic_auth_travels_in_the_header_never_in_the_url(
    fake: FakeExotel, client: ExotelClient
) -> None:
    client.set_available("u1", "100280", True)
    client.list_users(["+919876543210"])
    for seen in fake.seen:
        assert seen.headers["authorization"] == f"Basic {BASIC}"
        assert TOKEN not in seen.path and KEY not in seen.path and "@" not in seen.path
    assert TOKEN not in repr(client)


ECHO = f"<html><pre>Authorization: Basic {BASIC}\ntoken={TOKEN}</pre></html>".encode()
LEAKY_ERRORS = [
    Reply(401, failure(401, 1010, "Authentication failed")),
    Reply(403, failure(403, 1003, f"key {KEY} token {TOKEN} unauthorized")),
    Reply(404, failure(404, 1018, "Device not found")),
    Reply(409, failure(409, 1021, "Device already exists")),
    Reply(400, failure(400, 1007, "device_contact_uri cannot be updated in the same request")),
    Reply(429, too_many(), {"retry-after": "3"}),
    Reply(500, failure(500, TOKEN, "Internal Server Error")),
    Reply(502, ECHO, {"content-type": "text/html"}),
    Reply(200, b"garbage " + TOKEN.encode()),
    Reply(200, {"request_id": TOKEN, "response": {"data": {"debug": BASIC}}}),
    Reply(302, b"", {"location": f"https://{KEY}:{TOKEN}@ccm-api.exotel.com/"}),
]


@pytest.mark.parametrize("reply", LEAKY_ERRORS)
def test_the_token_never_appears_in_an_outcome(
    fake: FakeExotel, client: ExotelClient, reply: Reply
) -> None:
    serve(fake, reply)
    outcomes = [
        client.set_available("u1", "100280", True),
        client.list_users(["+919876543210"]),
        client.find_device("+919876543210")[0],
    ]
    assert all(not o.ok for o in outcomes)
    for outcome in outcomes:
        for text in (str(outcome), repr(outcome), outcome.summary()):
            assert TOKEN not in text and BASIC not in text


def test_the_token_never_appears_when_there_is_no_answer(fake: FakeExotel) -> None:
    serve(fake, Reply(delay=2.0))
    urls = [fake.url, f"http://127.0.0.1:{closed_port()}", "ftp://example.com"]
    for url in urls:
        outcome = ExotelClient(url, SID, CREDS, timeout=(0.5, 0.2)).get_user("u1")
        assert outcome.kind in (Kind.RETRY, Kind.FINAL)
        for text in (str(outcome), repr(outcome), outcome.summary()):
            assert TOKEN not in text and BASIC not in text


# The users GETs


def test_get_user(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=envelope({**user(7), "first_name": " Asha", "last_name": "Rao "})))
    outcome = client.get_user("u007")
    assert outcome.ok and outcome.request_id == "6b99d8f854244f1eb8bb91d75f1c565a"
    device = Device("1007", "Primary Device", "+919000000007", "tel", True, True, "free")
    assert outcome.users == (User("u007", "Asha Rao", (device,)),)
    assert fake.seen[0].method == "GET"
    assert fake.seen[0].path == f"/v2/accounts/{SID}/users/u007?fields=devices"


def test_get_user_without_devices_or_last_name(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=envelope({"id": 42, "first_name": "Ravi", "last_name": None})))
    assert client.get_user("42").users == (User("42", "Ravi", ()),)


def paged(fake: FakeExotel, users: list[dict[str, Any]], total: int | None) -> None:
    def respond(seen: Seen) -> Reply:
        offset, limit = int(seen.query["offset"][0]), int(seen.query["limit"][0])
        return Reply(body=page(users[offset : offset + limit], total, offset))

    fake.respond = respond


def test_list_users_pages_until_total(fake: FakeExotel, client: ExotelClient) -> None:
    everyone = [user(n) for n in range(120)]
    paged(fake, everyone, total=120)
    outcome = client.list_users()
    assert outcome.ok and outcome.http_code == 200
    assert [u.id for u in outcome.users] == [u["id"] for u in everyone]
    assert outcome.users[5].devices[0].id == "1005"
    assert outcome.request_id == "req-100"  # the last page's
    assert [(s.query["offset"], s.query["limit"]) for s in fake.seen] == [
        (["0"], ["50"]),
        (["50"], ["50"]),
        (["100"], ["50"]),
    ]
    assert all(s.query["fields"] == ["devices"] for s in fake.seen)
    assert all("devices.contact_uri" not in s.query for s in fake.seen)


def test_list_users_stops_on_an_empty_page_even_if_total_lies(
    fake: FakeExotel, client: ExotelClient
) -> None:
    paged(fake, [user(n) for n in range(60)], total=1000)
    outcome = client.list_users()
    assert outcome.ok and len(outcome.users) == 60
    assert [s.query["offset"] for s in fake.seen] == [["0"], ["50"], ["60"]]


def test_list_users_stops_when_the_server_ignores_offset(
    fake: FakeExotel, client: ExotelClient
) -> None:
    serve(fake, Reply(body=page([user(n) for n in range(3)], total=1000)))
    outcome = client.list_users(page_size=3)
    assert outcome.ok and len(outcome.users) == 3
    assert len(fake.seen) == 2


def test_list_users_without_metadata_stops_at_a_short_page(
    fake: FakeExotel, client: ExotelClient
) -> None:
    paged(fake, [user(n) for n in range(25)], total=None)
    outcome = client.list_users(page_size=10)
    assert outcome.ok and len(outcome.users) == 25
    assert [s.query["offset"] for s in fake.seen] == [["0"], ["10"], ["20"]]


def test_list_users_returns_the_first_failing_page(fake: FakeExotel, client: ExotelClient) -> None:
    first = Reply(body=page([user(n) for n in range(50)], total=120))
    serve(fake, first, Reply(503, failure(503, 1004, "Service Unavailable"), {"retry-after": "4"}))
    outcome = client.list_users()
    assert (outcome.kind, outcome.http_code, outcome.error_code) == (Kind.RETRY, 503, "1004")
    assert (outcome.retry_after, outcome.users) == (4.0, ())
    assert len(fake.seen) == 2


def test_list_item_that_failed_fails_the_page(fake: FakeExotel, client: ExotelClient) -> None:
    body = page([user(1)], total=2)
    body["response"].append({"code": 500, "status": "failure", "data": None, "error_data": {
        "code": 1004, "description": "Internal Server Error"}})  # fmt: skip
    serve(fake, Reply(body=body))
    outcome = client.list_users()
    assert (outcome.kind, outcome.http_code, outcome.error_code) == (Kind.FINAL, 200, "1004")
    assert outcome.description == "Internal Server Error"


def test_contact_uri_filter_is_encoded(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=page([], total=0)))
    client.list_users(["+919876543210", "+918765432109"])
    client.list_users(["sip:agent@example.com"], page_size=20)
    client.list_users("+919876543210")  # one URI as a plain string, not its characters
    one, two, three = (s.path for s in fake.seen)
    assert one == (
        f"/v2/accounts/{SID}/users?fields=devices"
        "&devices.contact_uri=%2B919876543210,%2B918765432109&offset=0&limit=50"
    )
    assert "&devices.contact_uri=sip%3Aagent%40example.com&offset=0&limit=20" in two
    assert "&devices.contact_uri=%2B919876543210&" in three


def test_list_users_refuses_nonsense_arguments(client: ExotelClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.list_users(page_size=51)
    with pytest.raises(ValueError, match="empty"):
        client.list_users([])


# find_device


def test_find_device_found(fake: FakeExotel, client: ExotelClient) -> None:
    other = {**DEVICE, "id": 9, "contact_uri": "sip:asha"}
    wanted = {**DEVICE, "id": 77, "contact_uri": "+919876543210"}
    found = {**user(3), "devices": [other, wanted]}
    serve(fake, Reply(body=page([found], total=1)))
    outcome, where = client.find_device("+919876543210")
    assert outcome.ok and where == ("u003", "77")
    assert fake.seen[0].query["devices.contact_uri"] == ["+919876543210"]


def test_find_device_not_found(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=page([user(1)], total=1)))  # a filter that matched another number
    outcome, where = client.find_device("+919876543210")
    assert outcome.ok and where is None


def test_find_device_failed(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(401, failure(401, 1010, "Authentication failed")))
    outcome, where = client.find_device("+919876543210")
    assert (outcome.kind, outcome.http_code, where) == (Kind.FINAL, 401, None)


def test_find_device_on_two_devices_is_final(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=page([user(1, "+919876543210"), user(2, "+919876543210")], total=2)))
    outcome, where = client.find_device("+919876543210")
    assert (outcome.kind, where) == (Kind.FINAL, None)
    assert outcome.description == (
        "contact URI +919876543210 is on 2 devices "
        "(user u001 device 1001, user u002 device 1002); use device ids"
    )


# Plumbing


def test_a_borrowed_session_is_left_open(fake: FakeExotel) -> None:
    shared = session()
    ExotelClient(fake.url, SID, CREDS, session=shared).close()
    assert ExotelClient(fake.url, SID, CREDS, session=shared).get_user("u1").http_code == 200
    shared.close()


def test_a_proxy_from_the_environment_carries_every_request(
    fake: FakeExotel, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_proxies_nor_bundle(monkeypatch)
    proxy = FakeExotel()  # answers in Exotel's place, as a proxy relays its answer
    try:
        address = proxy.url.removeprefix("http://")
        monkeypatch.setenv("HTTP_PROXY", f"http://ops:s%40cret@{address}")
        client = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 2.0))
        assert client.set_available("u1", "100280", True).ok
        client.close()
        (seen,) = proxy.seen
        assert seen.path == f"{fake.url}/v2/accounts/{SID}/users/u1/devices/100280"
        login = base64.b64encode(b"ops:s@cret").decode()
        assert seen.headers["proxy-authorization"] == f"Basic {login}"
        assert seen.headers["authorization"] == f"Basic {BASIC}"
        assert json.loads(seen.body) == {"available": True}
        assert fake.seen == []  # nothing went past the proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 2.0))
        assert direct.get_user("u1").http_code == 200
        assert len(proxy.seen) == 1 and len(fake.seen) == 1
    finally:
        proxy.close()


def test_an_unreachable_proxy_is_a_retry_and_nothing_was_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_proxies_nor_bundle(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    outcome = ExotelClient("http://127.0.0.1:9", SID, CREDS).get_user("u1")
    assert (outcome.kind, outcome.http_code, outcome.unanswered) == (Kind.RETRY, None, False)
    assert outcome.description == "connection failed: proxy: connection refused (127.0.0.1:9)"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FakeExotel, Path]]:
    """An HTTPS stand-in with a certificate of its own, and that certificate's file."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    running = FakeExotel(tls=context)
    yield running, cert
    running.close()


def test_tls_certificates_are_verified_and_a_ca_bundle_is_honoured(
    tls_server: tuple[FakeExotel, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, cert = tls_server
    _no_proxies_nor_bundle(monkeypatch)
    hosts = AllowedHosts.parse(fake.url)
    unknown = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 2.0), hosts=hosts)
    outcome = unknown.get_user("u1")
    assert (outcome.kind, outcome.http_code) == (Kind.RETRY, None)
    assert "TLS error CERTIFICATE_VERIFY_FAILED" in (outcome.description or "")
    assert fake.seen == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    trusted = ExotelClient(fake.url, SID, CREDS, timeout=(0.5, 2.0), hosts=hosts)
    assert trusted.set_available("u1", "100280", True).ok
    assert fake.seen[0].headers["authorization"] == f"Basic {BASIC}"


@pytest.mark.parametrize(
    "proxy",
    [
        "socks5://ops:s3cr3tpw@proxy.corp:1080",
        "http://ops:s3cr3tpw@proxy.corp:99999",
        "http://ops:s3cr3tpw@:3128",
    ],
)
def test_a_proxy_that_cannot_be_used_is_final_and_never_shown(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_proxies_nor_bundle(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    outcome = ExotelClient(f"http://127.0.0.1:{closed_port()}", SID, CREDS).get_user("u1")
    assert (outcome.kind, outcome.http_code, outcome.unanswered) == (Kind.FINAL, None, False)
    assert (outcome.description or "").startswith(
        "not sent: the proxy for http URLs cannot be used ("
    )
    assert "check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY" in (outcome.description or "")
    assert "s3cr3tpw" not in (outcome.description or "")


@pytest.mark.parametrize(
    ("bundle", "problem"),
    [
        ("/nowhere/corp.pem", "does not exist"),
        ("{tmp}/notes.txt", "holds no certificates"),
        ("{tmp}/empty", "is empty"),
    ],
)
def test_a_ca_bundle_that_cannot_verify_is_final(
    bundle: str,
    problem: str,
    tls_server: tuple[FakeExotel, Path],
    fake: FakeExotel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secure, _ = tls_server
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    (tmp_path / "empty").mkdir()
    bundle = bundle.format(tmp=tmp_path)
    _no_proxies_nor_bundle(monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    hosts = AllowedHosts.parse(secure.url)
    outcome = ExotelClient(secure.url, SID, CREDS, hosts=hosts).get_user("u1")
    assert (outcome.kind, outcome.unanswered) == (Kind.FINAL, False)
    assert outcome.description == (
        f"not sent: the CA bundle {bundle} {problem} (check REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)"
    )
    assert secure.seen == []
    assert ExotelClient(fake.url, SID, CREDS).get_user("u1").ok  # plain HTTP needs none


def test_an_answer_that_cannot_be_decoded_is_final(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=b"not gzip at all", headers={"content-encoding": "gzip"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.FINAL, None)
    assert outcome.description == f"request failed: DecodeError ({fake.url[7:]})"
    assert fake.seen[0].headers["accept-encoding"] == "gzip, deflate"


def test_contradicting_content_lengths_are_final(fake: FakeExotel, client: ExotelClient) -> None:
    serve(fake, Reply(body=envelope(DEVICE), headers={"Content-Length": "3"}))
    outcome = client.set_available("u1", "100280", True)
    assert (outcome.kind, outcome.http_code) == (Kind.FINAL, None)
    assert outcome.description == f"request failed: InvalidHeader ({fake.url[7:]})"


class _RefusingProxy(BaseHTTPRequestHandler):
    """A proxy that answers every CONNECT with the status its server is given."""

    def do_CONNECT(self) -> None:
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "kind"), [(407, Kind.FINAL), (502, Kind.RETRY)])
def test_a_tunnel_the_proxy_refuses_was_never_sent(
    status: int, kind: Kind, tls_server: tuple[FakeExotel, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure, cert = tls_server
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingProxy)
    proxy.status = status  # type: ignore[attr-defined]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        _no_proxies_nor_bundle(monkeypatch)
        monkeypatch.setenv("HTTPS_PROXY", f"http://ops:s3cr3tpw@127.0.0.1:{proxy.server_port}")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        hosts = AllowedHosts.parse(secure.url)
        outcome = ExotelClient(secure.url, SID, CREDS, hosts=hosts).get_user("u1")
        assert (outcome.kind, outcome.http_code, outcome.unanswered) == (kind, None, False)
        phrase = "Proxy Authentication Required" if status == 407 else "Bad Gateway"
        assert outcome.description == (
            f"the proxy refused the tunnel: {status} {phrase} ({secure.url[8:]})"
        )
        assert secure.seen == []
    finally:
        proxy.shutdown()
        proxy.server_close()


def _no_proxies_nor_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the environment's proxy or CA bundle settings, whatever this machine has."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
