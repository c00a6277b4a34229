"""When a run of failed requests says an account's Exotel is down: in memory, per process."""

from __future__ import annotations

import pytest

from shiftswitch.exotel import Kind, Outcome
from shiftswitch.outages import FailureRuns, answered, failed_request


def outcome(status: int | None, kind: Kind = Kind.RETRY) -> Outcome:
    return Outcome(kind, status, None, "x", None, None, 0.1)


@pytest.mark.parametrize(
    ("answer", "failed", "up"),
    [
        (outcome(500), True, False),
        (outcome(503), True, False),
        (outcome(None), True, False),  # a timeout, a refused connection
        (outcome(429), False, True),  # the gateway answers: it only wants fewer requests
        (outcome(403, Kind.FINAL), False, True),
        (outcome(200, Kind.OK), False, True),
        (outcome(None, Kind.FINAL), False, False),  # not sent at all (host not allowed)
    ],
)
def test_what_a_request_says_of_the_gateway(answer: Outcome, failed: bool, up: bool) -> None:
    assert (failed_request(answer), answered(answer)) == (failed, up)


def test_three_failures_of_two_actions_over_two_seconds_are_an_outage() -> None:
    runs = FailureRuns()
    assert runs.failed("main", 100.0, 1) == (1, None)
    assert runs.failed("main", 100.1, 2) == (2, None)
    assert runs.failed("main", 101.9, 1) == (3, None)  # three, but over 1.9 s: not yet down
    assert runs.failed("main", 102.4, 2) == (4, "4 requests in a row over 2.4 s")
    assert runs.failed("other", 102.4, 3) == (1, None)  # each account its own run


def test_one_actions_retries_alone_need_twice_as_many() -> None:
    runs = FailureRuns()
    for n, at in enumerate((0.0, 1.0, 3.0, 7.0, 15.0), start=1):
        assert runs.failed("main", at, 1) == (n, None)
    assert runs.failed("main", 31.0, 1) == (6, "6 requests in a row over 31.0 s")


def test_a_failure_long_after_the_last_starts_a_new_run() -> None:
    runs = FailureRuns()
    runs.failed("main", 0.0, 1)
    runs.failed("main", 1.0, 2)
    assert runs.failed("main", 100.0, 3) == (1, None)  # 99 s later: not "in a row"


def test_an_answer_ends_the_run_and_what_it_showed() -> None:
    runs = FailureRuns()
    for at, action in ((0.0, 1), (1.0, 2), (2.0, 1)):
        runs.failed("main", at, action)
    assert not runs.down("main")  # shown, not yet recorded
    runs.recorded("main")
    assert runs.down("main")
    runs.answered("main")
    assert not runs.down("main")
    assert runs.failed("main", 10.0, 1) == (1, None)  # a new run starts from one


def test_an_outage_ended_elsewhere_ends_the_run_that_showed_it() -> None:
    runs = FailureRuns()
    for at, action in ((0.0, 1), (1.0, 2), (2.0, 1)):
        runs.failed("main", at, action)
    runs.ended("main")  # not recorded yet: the run goes on
    assert runs.failed("main", 3.0, 2)[1] is not None
    runs.recorded("main")
    runs.ended("main")  # a probe was answered: the next failure is the first of a new run
    assert not runs.down("main") and runs.failed("main", 4.0, 1) == (1, None)
