"""The sandbox's strict rate limit (per request, as nginx's limit_req with no burst) and the
network's jitter, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from shiftswitch.sandbox.seed import load_seed, parse_seed
from shiftswitch.sandbox.server import Sandbox
from shiftswitch.sandbox.state import SeedError
from tests import EXAMPLE_SEED
from tests.integration.test_sandbox import SEED, Client, FakeClock, error, running


def strict_seed(rate: str = "2/s") -> object:
    text = EXAMPLE_SEED.read_text().replace("# rate_limit: 50/min", f"rate_limit: {rate}")
    data = yaml.safe_load(text)
    data["accounts"]["acme_corp"]["rate_mode"] = "strict"
    return data


def test_strict_refuses_a_request_closer_than_one_over_the_rate_to_the_last_let_through(
    clock: FakeClock,
) -> None:
    with running(parse_seed(strict_seed("2/s")), clock=clock) as c:
        start = clock.now
        assert c.users().status_code == 200
        clock.now = start + 0.499
        r = c.users()
        assert error(r) == (429, None, "Too many requests")
        assert "Retry-After" not in r.headers  # as nginx's limit_req: none
        assert r.headers["X-RateLimit-Limit"] == "2"
        clock.now = start + 0.5  # 1/rate after the last let through: the 429 did not count
        assert c.users().status_code == 200
        clock.now = start + 0.9
        assert c.put("u-100", 100280, {"available": True}).status_code == 429
        assert c.device("u-100", 100280)["available"] is False
        clock.now = start + 1.0
        assert c.put("u-100", 100280, {"available": True}).status_code == 200
        entry = c.control("GET", "log")["requests"][-2]
        assert (entry["status"], entry["retry_after"]) == (429, None)


def test_strict_lets_no_burst_through_where_the_window_lets_the_whole_count(
    clock: FakeClock,
) -> None:
    with running(parse_seed(strict_seed("3/s")), clock=clock) as c:
        assert [c.users().status_code for _ in range(3)] == [200, 429, 429]
        c.control("PUT", "faults", {"rate_modes": {"acme_corp": "window"}})
        clock.now += 1
        assert [c.users().status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_the_mode_is_set_by_the_seed_the_control_api_and_the_command_line(
    clock: FakeClock,
) -> None:
    plain = load_seed(SEED)
    with running(plain, clock=clock) as c:
        faults = c.control("GET", "faults")
        assert (faults["rate_modes"], faults["jitter_ms"]) == ({"acme_corp": "window"}, 0.0)
        changed = c.control(
            "PUT",
            "faults",
            {"rate_limits": {"acme_corp": "1/s"}, "rate_modes": {"acme_corp": "strict"}},
        )
        assert changed["rate_modes"] == {"acme_corp": "strict"}
        assert [c.users().status_code for _ in range(2)] == [200, 429]
        c.control("POST", "reset")
        assert c.control("GET", "faults")["rate_modes"] == {"acme_corp": "window"}
    with running(parse_seed(strict_seed()), clock=clock) as c:
        assert c.control("GET", "faults")["rate_modes"] == {"acme_corp": "strict"}
    with running(parse_seed(strict_seed()), clock=clock, rate_mode="window") as c:
        assert c.control("GET", "faults")["rate_modes"] == {"acme_corp": "window"}
        assert [c.users().status_code for _ in range(2)] == [200, 200]
    with pytest.raises(ValueError, match="rate_mode: expected window or strict"):
        Sandbox(plain, rate_mode="burst")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rate_modes": "strict"}, 'rate_modes: expected {"<account sid>": "window" or "strict"}'),
        ({"rate_modes": {"nobody": "strict"}}, "rate_modes.nobody: no such account in the seed"),
        ({"rate_modes": {"acme_corp": "burst"}}, 'rate_modes.acme_corp: expected "window" or'),
        ({"jitter_ms": -1}, "jitter_ms: expected milliseconds from 0 to 600000"),
        ({"jitter_ms": True}, "jitter_ms: expected milliseconds from 0 to 600000"),
    ],
)
def test_bad_fault_settings_are_refused_with_the_place(
    client_plain: Client, body: object, message: str
) -> None:
    r = client_plain.call("PUT", "/_sandbox/faults", auth=None, json=body)
    assert r.status_code == 400 and r.json()["error"].startswith(message), r.text


@pytest.fixture
def client_plain(clock: FakeClock) -> Iterator[Client]:
    with running(load_seed(SEED), clock=clock) as c:
        yield c


def test_a_bad_rate_mode_in_the_seed_names_its_place() -> None:
    with pytest.raises(SeedError) as exc:
        parse_seed(yaml.safe_load(yaml.safe_dump(strict_seed()).replace("strict", "burst")))
    assert str(exc.value) == "seed: accounts.acme_corp.rate_mode: expected window or strict"


# -- jitter, on the real clock ------------------------------------------------------------------


def delays(c: Client, n: int) -> list[float]:
    """How long each of ``n`` requests, sent four at a time, waited in the sandbox."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: c.users(), range(n)))
    log = c.control("GET", "log")["requests"]
    return [e["finished"] - e["started"] for e in log]


def test_each_request_waits_the_latency_plus_a_random_part_of_the_jitter() -> None:
    with running(load_seed(SEED), latency_ms=20, jitter_ms=100) as c:
        waited = delays(c, 24)
    assert min(waited) >= 0.020
    assert max(waited) < 0.020 + 0.100 + 0.3  # the jitter, and room for a busy machine
    assert max(waited) - min(waited) > 0.03  # spread: not one fixed delay


def test_the_jitter_delays_a_request_before_its_rate_limit() -> None:
    # Strict at 10/s: requests sent 150 ms apart pass when nothing delays them; with up to
    # 400 ms of jitter on the way in, some arrive closer than 100 ms to the one before.
    seed = parse_seed(strict_seed("10/s"))
    with running(seed) as c:
        for _ in range(10):
            assert c.users().status_code == 200
            time.sleep(0.15)
        c.control("PUT", "faults", {"jitter_ms": 400})
        assert c.control("GET", "faults")["jitter_ms"] == 400
        with ThreadPoolExecutor(20) as pool:
            futures = []
            for _ in range(20):
                futures.append(pool.submit(c.users))
                time.sleep(0.15)
            statuses = [f.result().status_code for f in futures]
        assert 429 in statuses  # none in 20 would happen about once in 10,000 runs
