"""The worker's Celery app: its HTTP connection pool follows the worker's concurrency."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import certifi
import pytest
from celery import signals

import worker.app
import worker.beating
from shiftswitch.broker import APPLY_TASK
from shiftswitch.exotel import session
from shiftswitch.settings import Settings
from worker.app import DEFAULT_CONCURRENCY, WARM_CONNECTIONS, concurrency_of, create_app
from worker.context import Defer


class Built(BaseException):  # not an Exception: the task would catch and retry it
    """The context the first task builds: with how many threads."""


@pytest.mark.parametrize(
    ("concurrency", "threads"),
    [(5, 5), (1, 1), ("auto", DEFAULT_CONCURRENCY), (None, DEFAULT_CONCURRENCY)],
)
def test_the_pool_is_as_large_as_the_workers_threads(concurrency: Any, threads: int) -> None:
    assert concurrency_of(SimpleNamespace(concurrency=concurrency)) == threads


def test_a_worker_started_with_a_concurrency_builds_its_context_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However the worker is started (``shiftswitch worker -c``, ``celery ... worker -c``):
    Celery's ``worker_init`` tells the app its concurrency before the first task."""

    def build_context(_settings: Settings, concurrency: int = DEFAULT_CONCURRENCY) -> Any:
        raise Built(concurrency)

    monkeypatch.setattr(worker.app, "build_context", build_context)
    settings = Settings.from_env({"DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1"})
    app = create_app(settings)
    app.WorkController(concurrency=5, pool_cls="threads")  # sends worker_init; starts nothing
    task = app.tasks[APPLY_TASK]
    due = {"id": 1, "available": True, "due_at": "2026-11-30T09:00:00+00:00"}
    with pytest.raises(Built) as built:
        task.run(owner="main/u-100", actions=[due])
    assert built.value.args == (5,)


@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")  # two apps
def test_a_ready_worker_warms_up_a_connection_per_thread_up_to_sixteen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm-up (database connections, a turn's SQL) runs once the worker is ready, with
    as many connections as it has threads, at most :data:`WARM_CONNECTIONS`."""
    asked: list[int] = []
    warmed = threading.Event()

    def warm_up(_context: Any, connections: int = 1) -> None:
        asked.append(connections)
        warmed.set()

    class _Beating:
        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            pass

        def named(self, _version: int) -> bool:
            return True

        def start(self) -> None:
            pass

    class _Consumer:  # the sender of worker_ready (hashable, as Celery's signals need)
        hostname, pool = "h", None

        def __init__(self, app: Any) -> None:
            self.app = app

    monkeypatch.setattr(worker.app, "warm_up", warm_up)
    monkeypatch.setattr(worker.app, "Beating", _Beating)
    monkeypatch.setattr(worker.app, "notify_engine", lambda _settings: None)
    monkeypatch.setattr(worker.app.notify_service, "start_deliverer", lambda *_a, **_k: None)
    env = {"DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1"}
    for threads in (5, 40):
        app = create_app(Settings.from_env(env))
        app.WorkController(concurrency=threads, pool_cls="threads")  # sends worker_init
        signals.worker_ready.send(sender=_Consumer(app))
        assert warmed.wait(5)
        warmed.clear()
    assert asked == [5, WARM_CONNECTIONS] and WARM_CONNECTIONS < 40


def test_a_session_keeps_as_many_connections_per_host_as_asked() -> None:
    s = session(pool_size=5)
    assert s.manager(None, certifi.where()).connection_pool_kw["maxsize"] == 5
    s.close()


class _Heartbeat:
    """A heartbeat that keeps what it is given."""

    def __init__(self) -> None:
        self.beats: list[tuple[frozenset[str], dict[str, Any]]] = []

    def beat(self, tags: frozenset[str], owners: dict[str, Any], kept: int = 0) -> None:
        self.beats.append((tags, owners))
        self.kept = kept

    def stop(self) -> None:
        pass


def _request(tag: str, owner: str, action_id: int) -> SimpleNamespace:
    actions = [{"id": action_id, "due_at": "2026-11-30T09:00:00+00:00", "available": True}]
    return SimpleNamespace(
        message=SimpleNamespace(delivery_tag=tag),
        kwargs={"batch": [{"owner": owner, "actions": actions}]},
    )


def test_a_beat_works_out_what_is_held_again_only_when_the_messages_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = [_request("t1", "main/u-1", 1)]
    monkeypatch.setattr(worker.beating, "held_requests", lambda: list(held))
    covered: list[Any] = []
    cover = worker.beating.cover
    monkeypatch.setattr(worker.beating, "cover", lambda kw: covered.append(kw) or cover(kw))
    heartbeat = _Heartbeat()
    beating = worker.beating.Beating(heartbeat)  # type: ignore[arg-type]
    beating.beat()
    beating.beat()
    (tags1, owners1), (tags2, owners2) = heartbeat.beats
    assert tags1 == tags2 == {"t1"} and set(owners1) == {"main/u-1"}
    assert owners2 is owners1  # the same messages: what they cover is not worked out again
    held.append(_request("t2", "main/u-2", 2))
    beating.beat()
    tags3, owners3 = heartbeat.beats[-1]
    assert tags3 == {"t1", "t2"} and set(owners3) == {"main/u-1", "main/u-2"}
    # Each message's cover was worked out once, when it was first held.
    assert [kw for kw in covered if kw["batch"]] == [held[0].kwargs, held[1].kwargs]
    held.clear()
    beating.beat()
    assert heartbeat.beats[-1] == (frozenset(), {})


def test_a_beat_names_the_users_the_worker_keeps_and_follows_their_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker.beating, "held_requests", lambda: [_request("t1", "main/u-1", 1)])
    kept = [_request("-", "main/u-2", 2).kwargs["batch"][0]]
    version = [1]
    heartbeat = _Heartbeat()
    beating = worker.beating.Beating(heartbeat, kept=lambda: (version[0], list(kept)))  # type: ignore[arg-type]
    beating.beat()
    assert heartbeat.beats[-1][0] == {"t1"}  # a kept user has no message
    assert set(heartbeat.beats[-1][1]) == {"main/u-1", "main/u-2"} and heartbeat.kept == 1
    kept.clear()
    version[0] = 2
    beating.beat()
    assert set(heartbeat.beats[-1][1]) == {"main/u-1"} and heartbeat.kept == 0


class _Task:
    """The apply task's ``apply_async``: what was sent back through the broker."""

    def __init__(self, fails: bool = False) -> None:
        self.sent: list[tuple[dict[str, Any], float]] = []
        self.fails = fails

    def apply_async(
        self, kwargs: dict[str, Any], countdown: float, queue: str, **options: str
    ) -> None:
        if self.fails:
            raise ConnectionError("Redis is away")
        assert options["kwargsrepr"] == f"{{'batch': [{kwargs['batch'][0]['owner']}]}}"
        self.sent.append((kwargs["batch"][0], countdown))


class _Keeper:
    def __init__(self) -> None:
        self.kept: list[tuple[dict[str, Any], float]] = []

    def keep(self, user: dict[str, Any], countdown: float) -> bool:
        if countdown > 30:
            return False
        self.kept.append((user, countdown))
        return True


def _settling(
    monkeypatch: pytest.MonkeyPatch, defer: Any, task: _Task, keeper: _Keeper | None = None
) -> worker.app.Settling:
    monkeypatch.setattr(worker.app, "_apply_user", lambda _context, _user: defer)
    return worker.app.Settling(lambda: None, task, keeper)  # type: ignore[arg-type,return-value]


USER = {"owner": "main/u-1", "actions": [{"id": 1, "due_at": "2026-11-30T09:00:00+00:00"}]}


@pytest.mark.parametrize(
    ("defer", "kept"),
    [
        (Defer(2.0, "slot reserved", planned=True), True),
        (Defer(40.0, "a backoff", planned=True), False),  # longer than the keeper keeps
        (Defer(0.5, "user busy"), False),  # nothing planned: the sweep could take it
        (None, False),  # done
    ],
)
def test_a_user_is_kept_only_for_a_short_wait_planned_in_the_database(
    monkeypatch: pytest.MonkeyPatch, defer: Defer | None, kept: bool
) -> None:
    task, keeper = _Task(), _Keeper()
    settle = _settling(monkeypatch, defer, task, keeper)
    settle(dict(USER))
    assert bool(keeper.kept) == kept
    assert bool(task.sent) == (defer is not None and not kept)
    if task.sent:
        assert task.sent == [({"owner": "main/u-1", "actions": USER["actions"]}, defer.countdown)]  # type: ignore[union-attr]


def test_without_a_pool_of_threads_a_user_who_waits_goes_back_through_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = _Task()
    settle = _settling(monkeypatch, Defer(2.0, "slot", planned=True), task)
    assert settle.keep_in(object()) is None  # Celery's prefork or solo pool
    settle(dict(USER))
    assert [u["owner"] for u, _ in task.sent] == ["main/u-1"]


def test_a_user_who_cannot_be_sent_back_is_left_to_the_sweep_in_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settle = _settling(monkeypatch, Defer(0.5, "user busy"), _Task(fails=True))
    settle(dict(USER))
    assert "owner=main/u-1 could not be sent again: Redis is away" in caplog.text


def test_a_task_that_kept_a_user_returns_once_a_beat_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between its message's acknowledgement and the next regular beat, a user kept would be
    named by nothing: the task asks for a beat and waits for it."""
    monkeypatch.setattr(worker.beating, "held_requests", list)
    kept: list[dict[str, Any]] = []
    heartbeat = _Heartbeat()
    beating = worker.beating.Beating(heartbeat, every=60.0, kept=lambda: (len(kept), list(kept)))  # type: ignore[arg-type]
    beating.start()  # one beat, then none for a minute unless asked
    try:
        kept.append(_request("-", "main/u-2", 2).kwargs["batch"][0])
        assert beating.named(1, timeout=5.0)
        assert set(heartbeat.beats[-1][1]) == {"main/u-2"} and len(heartbeat.beats) == 2
        assert beating.named(1, timeout=0.0)  # named already: no beat asked
        assert len(heartbeat.beats) == 2
    finally:
        beating.stop()


def test_a_messages_users_are_applied_one_after_another_within_the_leases_handover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The task's users go one after the other inside the context's ``one_after_another``
    (their leases handed over); a context that cannot be built leaves each user to say so."""
    seen: list[tuple[str, bool]] = []
    inside = [False]

    @contextlib.contextmanager
    def one_after_another() -> Iterator[None]:
        inside[0] = True
        yield
        inside[0] = False

    def apply_user(_context: Any, user: dict[str, Any]) -> None:
        seen.append((user["owner"], inside[0]))

    monkeypatch.setattr(worker.app, "_apply_user", apply_user)
    context = SimpleNamespace(one_after_another=one_after_another)
    settle = worker.app.Settling(lambda: context, _Task())  # type: ignore[arg-type,return-value]
    users = [{**USER, "owner": f"main/u-{i}"} for i in (1, 2)]
    assert settle.one_after_another(users) == [False, False]
    assert seen == [("main/u-1", True), ("main/u-2", True)] and not inside[0]

    def no_context() -> None:
        raise RuntimeError("DATABASE_URL names no database")

    seen.clear()
    broken = worker.app.Settling(no_context, _Task())  # type: ignore[arg-type]
    assert broken.one_after_another(users) == [False, False]
    assert seen == [("main/u-1", False), ("main/u-2", False)]
