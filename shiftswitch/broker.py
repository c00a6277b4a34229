"""The Celery application on Redis, and how switches are handed to it (SPEC §3, §5).

The scheduler and the CLI send tasks by name (:data:`APPLY_TASK`), so they never import the
worker package; the worker registers the task on the same app configuration.

A task message names the user whose switches to apply (``owner``) and carries the actions'
ids and transitions: never credentials, which each worker reads from its own environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from celery import Celery

from shiftswitch.models import Action
from shiftswitch.settings import Settings

APPLY_TASK = "shiftswitch.apply"
QUEUE = "shiftswitch"


def make_celery(settings: Settings) -> Celery:
    """The Celery app: Redis broker, JSON only, late acks, no result backend."""
    app = Celery("shiftswitch", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # A task is acknowledged when it has finished, and given to another worker when the
        # one running it dies: every action is idempotent, so running one again is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=QUEUE,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Look for tasks of dead workers (unacknowledged past the visibility timeout) every
            # few seconds, not kombu's default of every 100 s.
            "unacked_restore_interval": max(1.0, min(10.0, settings.visibility_timeout / 5)),
            "unacked_restore_throttle": 1,
        },
        enable_utc=True,
    )
    return app


def message(action: Action) -> dict[str, Any]:
    """What a task message says of one action: ids and the transition, nothing secret."""
    return {
        "id": action.id,
        "key": action.key,
        "account": action.account,
        "agent": action.agent,
        "device": action.device,
        "user_id": action.user_id,
        "device_id": action.device_id,
        "available": action.available,
        "due_at": action.due_at.isoformat(),
    }


class Dispatcher(Protocol):
    def dispatch(self, owner: str, actions: Sequence[Action]) -> None:
        """Hand one user's actions, in order, to the workers."""
        ...


class CeleryDispatcher:
    """Sends one task per user and batch, so a handoff's OFF and ON travel together."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def dispatch(self, owner: str, actions: Sequence[Action]) -> None:
        self._app.send_task(
            APPLY_TASK,
            kwargs={"owner": owner, "actions": [message(a) for a in actions]},
            queue=QUEUE,
        )
