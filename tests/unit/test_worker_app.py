"""The worker's Celery app: its HTTP connection pool follows the worker's concurrency."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import certifi
import pytest

import worker.app
import worker.beating
from shiftswitch.broker import APPLY_TASK
from shiftswitch.exotel import session
from shiftswitch.settings import Settings
from worker.app import DEFAULT_CONCURRENCY, concurrency_of, create_app


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
