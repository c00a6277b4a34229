"""The users a worker keeps through a short wait: run in its pool when due, named while kept,
handed back to the broker when the worker stops or its pool takes no more work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from worker.kept import Keeper, User

WAIT = 5.0  # seconds: longest wait for a condition


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.002)


def _user(owner: str) -> User:
    return {"owner": owner, "actions": [{"id": 1, "due_at": "2026-11-30T09:00:00+00:00"}]}


class World:
    """A keeper on a real pool of threads, with what it ran and what it handed back."""

    def __init__(self, threads: int = 4, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.ran: list[tuple[str, float]] = []
        self.back: list[tuple[str, float]] = []
        self.run: Callable[[User], None] = lambda user: self.ran.append(
            (user["owner"], time.monotonic())
        )
        self.hand_back: Callable[[User, float], None] = lambda user, countdown: self.back.append(
            (user["owner"], countdown)
        )
        self.keeper = Keeper(self.pool.submit, self._run, self._hand_back, monotonic)

    def _run(self, user: User) -> None:
        self.run(user)

    def _hand_back(self, user: User, countdown: float) -> None:
        self.hand_back(user, countdown)

    def owners(self) -> set[str]:
        return {user["owner"] for user in self.keeper.users()[1]}


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.keeper.stop()
    w.pool.shutdown(wait=True)


def test_a_user_kept_runs_in_the_pool_once_due_and_not_before(world: World) -> None:
    start = time.monotonic()
    assert world.keeper.keep(_user("main/u-1"), 0.2)
    _until(lambda: len(world.ran) == 1)
    (owner, at) = world.ran[0]
    assert owner == "main/u-1" and at - start >= 0.2
    assert world.back == []


def test_users_run_in_the_order_they_are_due() -> None:
    w = World(threads=1)  # one thread: they run in the order they are handed to it
    for owner, countdown in (("c", 0.15), ("a", 0.05), ("b", 0.1)):
        assert w.keeper.keep(_user(owner), countdown)
    _until(lambda: len(w.ran) == 3)
    assert [owner for owner, _ in w.ran] == ["a", "b", "c"]
    w.keeper.stop()
    w.pool.shutdown()


def test_a_longer_wait_is_left_to_the_broker(world: World) -> None:
    assert not world.keeper.keep(_user("main/u-1"), 31.0)
    assert world.owners() == set()


def test_the_users_kept_are_named_until_they_have_run(world: World) -> None:
    release = threading.Event()

    def run(user: User) -> None:
        release.wait(WAIT)
        world.ran.append((user["owner"], 0.0))

    world.run = run
    version = world.keeper.users()[0]
    world.keeper.keep(_user("main/u-1"), 0.0)  # runs at once, and waits in the pool
    world.keeper.keep(_user("main/u-2"), 30.0)
    assert world.owners() == {"main/u-1", "main/u-2"}
    assert world.keeper.users()[0] != version
    release.set()
    _until(lambda: world.owners() == {"main/u-2"})


def test_stopping_hands_back_the_users_still_waiting_with_what_is_left_of_their_wait(
    world: World,
) -> None:
    world.keeper.keep(_user("main/u-2"), 20.0)
    world.keeper.keep(_user("main/u-1"), 10.0)
    assert world.keeper.stop() == 2
    assert [owner for owner, _ in world.back] == ["main/u-1", "main/u-2"]
    assert 9.0 < world.back[0][1] <= 10.0 and 19.0 < world.back[1][1] <= 20.0
    assert world.ran == [] and world.owners() == set()
    assert not world.keeper.keep(_user("main/u-3"), 0.0)  # stopped: the broker has it


def test_a_user_given_to_a_busy_pool_and_not_started_is_handed_back_not_run() -> None:
    w = World(threads=1)
    busy = threading.Event()
    w.pool.submit(busy.wait, WAIT)  # the one thread is taken
    w.keeper.keep(_user("main/u-1"), 0.0)
    _until(lambda: w.keeper.users()[1] != [] and w.keeper.waiting() == 0)  # in the pool's queue
    assert w.keeper.stop() == 1
    busy.set()
    w.pool.shutdown(wait=True)
    assert [owner for owner, _ in w.back] == ["main/u-1"] and w.ran == []


def test_a_pool_that_takes_no_more_work_hands_the_user_back_at_once() -> None:
    w = World()
    w.pool.shutdown(wait=True)  # the worker is stopping
    w.keeper.keep(_user("main/u-1"), 0.0)
    _until(lambda: len(w.back) == 1 and w.owners() == set())
    assert w.back == [("main/u-1", 0.0)] and w.ran == []
    w.keeper.stop()


def test_a_failure_while_running_a_user_leaves_the_keeper_working(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(user: User) -> Any:
        if user["owner"] == "bad":
            raise RuntimeError("a bug")
        world.ran.append((user["owner"], 0.0))

    world.run = fail
    world.keeper.keep(_user("bad"), 0.0)
    world.keeper.keep(_user("good"), 0.05)
    _until(lambda: len(world.ran) == 1 and world.owners() == set())
    assert world.ran[0][0] == "good"
    assert "owner=bad failed" in caplog.text


def test_a_worker_stopping_as_celery_does_hands_each_user_back_once_and_runs_none() -> None:
    """Celery shuts its pool down first (``cancel_futures``: what waits in its queue is
    dropped), then sends ``worker_shutdown``, where the keeper stops."""
    w = World(threads=1)
    busy = threading.Event()
    w.pool.submit(busy.wait, WAIT)
    w.keeper.keep(_user("queued"), 0.0)  # given to the pool, behind the busy thread
    _until(lambda: w.keeper.waiting() == 0)
    w.keeper.keep(_user("due-during-shutdown"), 1.0)
    w.keeper.keep(_user("waiting"), 20.0)
    threading.Timer(2.0, busy.set).start()
    w.pool.shutdown(wait=True, cancel_futures=True)  # past the second user's due time
    _until(lambda: [owner for owner, _ in w.back] == ["due-during-shutdown"])
    w.keeper.stop()
    assert sorted(owner for owner, _ in w.back) == ["due-during-shutdown", "queued", "waiting"]
    assert 15.0 < dict(w.back)["waiting"] <= 20.0 and dict(w.back)["queued"] == 0.0
    assert w.ran == [] and w.owners() == set()


def test_a_user_is_named_until_the_broker_has_it() -> None:
    w = World()
    named: list[set[str]] = []
    w.hand_back = lambda user, countdown: named.append(w.owners())
    w.keeper.keep(_user("main/u-1"), 10.0)
    w.keeper.stop()
    assert named == [{"main/u-1"}] and w.owners() == set()
    w.pool.shutdown()


def test_a_keeper_that_fails_hands_its_users_back_and_keeps_no_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed: list[bool] = []

    def clock() -> float:
        if threading.current_thread().name == "kept" and not failed:  # the timer's, once
            failed.append(True)
            raise RuntimeError("a bug")
        return time.monotonic()

    w = World(monotonic=clock)
    w.keeper.keep(_user("main/u-1"), 20.0)  # the timer looks at the clock, and fails
    _until(lambda: [owner for owner, _ in w.back] == ["main/u-1"] and w.owners() == set())
    assert not w.keeper.keep(_user("main/u-2"), 0.0)  # the broker has the next ones
    assert "stopped keeping users" in caplog.text
    w.pool.shutdown()
