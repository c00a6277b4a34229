"""How far apart the workers send an account's requests, and how 429s and requests let through
move that spacing: the rules, and the test twin of the Redis budget that applies them on a test
clock (the Redis script is held to the same rules in tests/integration/test_limiter.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shiftswitch.budget import MAX_WIDENING, NARROW, WIDEN, narrowed, widened
from shiftswitch.pacing import RateLimit, parse_rate
from tests.twins import Budget, TestTime

ACCOUNT = "https://ccm-api.exotel.com/acme"


def rate(text: str) -> RateLimit:
    limit = parse_rate(text)
    assert limit is not None
    return limit


@pytest.mark.parametrize(
    ("text", "window", "jitter"),
    [
        # 1/rate, +1% and 100 ms per window; the jitter allowance: 50 ms from 1 s up, less in
        # proportion to the square of the interval below
        ("60/min", 1.0 * 1.01 + 0.1 / 60, 0.05),
        ("30/min", 2.0 * 1.01 + 0.1 / 30, 0.05),
        ("120/min", 0.5 * 1.01 + 0.1 / 120, 0.05 * 0.25),
        ("600/min", 0.1 * 1.01 + 0.1 / 600, 0.05 * 0.01),
        ("10/s", 0.1 * 1.01 + 0.1 / 10, 0.05 * 0.01),
    ],
)
def test_the_spacing_is_the_limit_plus_a_windows_margin_and_strict_adds_the_jitter(
    text: str, window: float, jitter: float
) -> None:
    # Up to 10 ms of the allowance from the start; all of it once the gateway has said 429.
    assert rate(text).spacing == pytest.approx(window + min(0.01, jitter))
    assert rate(text).strict_spacing == pytest.approx(window + jitter)


@pytest.mark.parametrize("text", ["50/min", "60/min", "100/min", "120/min"])
def test_at_low_rates_the_spacing_covers_10_ms_of_jitter_from_the_start(text: str) -> None:
    # A 429 would cost a whole interval of half a second or more.
    limit = rate(text)
    assert limit.spacing - limit.interval * 1.01 - 0.1 / limit.count == pytest.approx(0.01)
    assert limit.spacing / limit.interval - 1 <= 0.035


@pytest.mark.parametrize("text", ["600/min", "1200/min", "3000/min", "6000/min"])
def test_at_high_rates_the_spacing_from_the_start_is_the_windows_margin_and_little_more(
    text: str,
) -> None:
    limit = rate(text)
    assert limit.spacing / limit.interval - 1 <= 0.0175


def test_at_one_request_a_second_or_slower_the_strict_spacing_covers_50_ms_of_jitter() -> None:
    # A gateway refusing any request closer than 1/rate to the last one lets every request
    # through while two sent S apart arrive at least S - 50 ms apart.
    for text in ("60/min", "50/min", "1/s", "10/min"):
        limit = rate(text)
        assert limit.strict_spacing - limit.interval >= 0.05


@pytest.mark.parametrize("text", ["300/min", "600/min", "6000/min", "100/min"])
def test_at_high_rates_the_jitter_allowance_costs_little(text: str) -> None:
    limit = rate(text)
    assert limit.strict_spacing / limit.spacing - 1 <= 0.03


def test_a_429_widens_by_a_tenth_up_to_four_times() -> None:
    assert widened(1.0) == WIDEN == 1.1
    assert widened(2.0) == pytest.approx(2.2)
    assert widened(3.9) == MAX_WIDENING == 4.0
    w = 1.0
    for _ in range(7):  # 429s that keep coming compound it
        w = widened(w)
    assert w > 1.9


def test_each_request_let_through_narrows_by_a_percent_down_to_the_spacing() -> None:
    assert narrowed(1.1) == pytest.approx(1.1 - NARROW)
    assert NARROW == 0.01
    assert narrowed(1.002) == 1.0
    assert narrowed(1.0) == 1.0
    w = widened(1.0)
    for _ in range(9):
        w = narrowed(w)
    assert w > 1.0  # one 429 widens for ten requests: about half a slot lost
    assert narrowed(w) == 1.0


# -- the twin of the Redis budget, on the test clock ------------------------------------------


@pytest.fixture
def time() -> TestTime:
    return TestTime(datetime(2026, 11, 30, 9, tzinfo=UTC))


def slots(budget: Budget, limit: RateLimit, n: int) -> list[float]:
    """The waits of ``n`` reservations made now."""
    out = []
    for _ in range(n):
        reserved, wait = budget.reserve(ACCOUNT, limit, max_wait=3600)
        assert reserved
        out.append(wait)
    return out


def test_the_first_429_makes_the_account_strict_and_later_ones_widen_it(
    time: TestTime,
) -> None:
    budget, limit = Budget(time), rate("60/min")
    s, strict = limit.spacing, limit.strict_spacing
    assert slots(budget, limit, 2) == pytest.approx([0, s])  # no jitter allowance yet
    time.sleep(s)  # the second leaves, and is refused
    budget.refused(ACCOUNT, retry_after=None, took=0.05)
    assert ACCOUNT in budget.strict and budget.widening.get(ACCOUNT, 1.0) == 1.0
    # the next free slot was reserved already; the ones after it at the strict spacing
    assert slots(budget, limit, 3) == pytest.approx([s, s + strict, s + 2 * strict])
    time.sleep(0.5)
    budget.refused(ACCOUNT, retry_after=None, took=0.05)  # a request sent since: wider
    assert budget.widening[ACCOUNT] == pytest.approx(1.1)


def test_requests_let_through_narrow_it_back_to_the_strict_spacing_and_no_further(
    time: TestTime,
) -> None:
    budget, limit = Budget(time), rate("60/min")
    budget.refused(ACCOUNT, retry_after=None, took=0.0)
    time.sleep(1)
    budget.refused(ACCOUNT, retry_after=None, took=0.0)
    assert budget.widening[ACCOUNT] == 1.1
    for _ in range(5):
        budget.admitted(ACCOUNT)
    assert budget.widening[ACCOUNT] == pytest.approx(1.05)
    for _ in range(100):
        budget.admitted(ACCOUNT)
    assert budget.widening[ACCOUNT] == 1.0
    time.sleep(10)
    assert slots(budget, limit, 2) == pytest.approx([0, limit.strict_spacing])


def test_a_request_leaves_a_spacing_after_the_last_one_that_left(time: TestTime) -> None:
    budget, limit = Budget(time), rate("60/min")
    s = limit.spacing
    assert slots(budget, limit, 3) == pytest.approx([0, s, 2 * s])
    assert budget.sending(ACCOUNT, limit) == 0.0  # the first leaves at its slot
    time.sleep(s + 0.3)  # the second's process wakes 0.3 s late
    assert budget.sending(ACCOUNT, limit) == 0.0
    time.sleep(2 * s - (s + 0.3))  # the third, on time at its slot, would follow too close
    assert budget.sending(ACCOUNT, limit) == pytest.approx(0.3, abs=1e-3)


def test_a_slot_reserved_before_the_account_became_strict_leaves_at_the_strict_spacing(
    time: TestTime,
) -> None:
    budget, limit = Budget(time), rate("60/min")
    slots(budget, limit, 2)
    assert budget.sending(ACCOUNT, limit) == 0.0
    budget.refused(ACCOUNT, retry_after=None, took=0.0)
    time.sleep(limit.spacing)
    later = limit.strict_spacing - limit.spacing
    assert budget.sending(ACCOUNT, limit) == pytest.approx(later, abs=1e-3)


def test_429s_to_requests_sent_before_the_last_change_do_not_change_it_again(
    time: TestTime,
) -> None:
    budget, limit = Budget(time), rate("600/min")
    slots(budget, limit, 5)  # five reserved at the spacing, before any 429
    time.sleep(0.1)
    budget.refused(ACCOUNT, retry_after=None, took=0.05)  # the first makes it strict
    for _ in range(3):  # others, in flight before it, are refused too
        time.sleep(0.01)
        budget.refused(ACCOUNT, retry_after=None, took=0.05)
    assert ACCOUNT in budget.strict and budget.widening.get(ACCOUNT, 1.0) == 1.0
    # a request sent after it and refused widens it
    time.sleep(0.2)
    budget.refused(ACCOUNT, retry_after=None, took=0.001)
    assert budget.widening[ACCOUNT] == pytest.approx(1.1)


def test_retry_after_holds_every_request_of_the_account(time: TestTime) -> None:
    budget, limit = Budget(time), rate("600/min")
    other = "https://ccm-api.exotel.com/other"
    budget.refused(ACCOUNT, retry_after=3.0, took=0.05)
    reserved, wait = budget.reserve(ACCOUNT, limit, max_wait=5)
    assert reserved and wait == pytest.approx(3.0)
    assert budget.reserve(other, limit, max_wait=5) == (True, 0.0)  # another account: free
    later = pytest.approx(3 + limit.strict_spacing)
    assert budget.reserve(ACCOUNT, limit, max_wait=1) == (False, later)


def test_a_retry_after_shorter_than_the_queue_leaves_it_as_it_is(time: TestTime) -> None:
    budget, limit = Budget(time), rate("60/min")
    slots(budget, limit, 4)  # the queue runs some 4 s ahead
    budget.refused(ACCOUNT, retry_after=1.0, took=0.0)
    reserved, wait = budget.reserve(ACCOUNT, limit, max_wait=60)
    assert reserved and wait == pytest.approx(4 * limit.spacing)
