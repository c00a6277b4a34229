"""Firings of cron expressions: the day-by-day walk of plain expressions gives exactly what
croniter's own search gives, forwards and backwards, from any wall-clock time (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice

import pytest
from croniter import CroniterBadDateError, croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shiftswitch.cron import CronError, _plain, next_after, parse_cron, previous_before

FIRINGS = 25


def _by_croniter(expr: str, local: datetime, backwards: bool) -> list[datetime]:
    it = croniter(parse_cron(expr), local)
    out: list[datetime] = []
    for _ in range(FIRINGS):
        try:
            out.append(it.get_prev(datetime) if backwards else it.get_next(datetime))
        except CroniterBadDateError:
            break
    return out


@st.composite
def field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> str:
    a = draw(st.integers(low, high))
    b = draw(st.integers(a, high))
    return draw(
        st.sampled_from(
            [
                "*",
                str(a),
                f"{a}-{b}",
                f"*/{draw(st.integers(1, high - low))}",
                f"{a}-{b}/{draw(st.integers(1, 7))}",
                f"{a},{b}",
                *names,
            ]
        )
    )


@st.composite
def expression(draw: st.DrawFn) -> str:
    return " ".join(
        [
            draw(field(0, 59)),
            draw(field(0, 23)),
            draw(field(1, 31)),
            draw(field(1, 12, ("jan-mar", "feb", "dec"))),
            draw(field(0, 7, ("mon-fri", "sat,sun", "sun"))),
        ]
    )


def _valid(expr: str) -> bool:
    try:
        parse_cron(expr)
    except CronError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(
    expression(),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)),
    st.booleans(),
)
def test_plain_expressions_fire_as_croniter_says(
    expr: str, local: datetime, whole_minute: bool
) -> None:
    assume(_valid(expr))
    assert _plain(parse_cron(expr)) is not None
    if whole_minute:
        local = local.replace(second=0, microsecond=0)
    assert list(islice(next_after(expr, local), FIRINGS)) == _by_croniter(expr, local, False)
    assert list(islice(previous_before(expr, local), FIRINGS)) == _by_croniter(expr, local, True)


@pytest.mark.parametrize(
    "expr",
    [
        "0 9 * * 1-5",
        "30 22 * * sun,sat",
        "0 0 29 2 *",  # once in four years (eight, around 2100)
        "0 9 13 * 5",  # either day field: the 13th, and every Friday
        "0 9 1-31 * 1",  # a full day-of-month range is "*": Mondays only
        "0 9 * * 7",  # 7 is Sunday
        "@daily",
        "@weekly",
    ],
)
def test_table_of_plain_expressions(expr: str) -> None:
    local = datetime(2026, 3, 8, 1, 59, 30)  # wall-clock time
    assert _plain(parse_cron(expr)) is not None
    assert list(islice(next_after(expr, local), FIRINGS)) == _by_croniter(expr, local, False)
    assert list(islice(previous_before(expr, local), FIRINGS)) == _by_croniter(expr, local, True)


@pytest.mark.parametrize("expr", ["0 9 L * *", "0 9 * * 5#2", "0 9 15W * *"])
def test_other_expressions_are_left_to_croniter(expr: str) -> None:
    local = datetime(2026, 12, 7)  # wall-clock time
    assert _plain(parse_cron(expr)) is None
    assert list(islice(next_after(expr, local), FIRINGS)) == _by_croniter(expr, local, False)
    assert list(islice(previous_before(expr, local), FIRINGS)) == _by_croniter(expr, local, True)


def test_previous_before_stops_at_its_limit() -> None:
    local = datetime(2026, 12, 7)  # wall-clock time
    assert len(list(previous_before("* * * * *", local, limit=7))) == 7
    assert next(next_after("*/5 * * * *", local)) == local + timedelta(minutes=5)
