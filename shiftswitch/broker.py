"""The Celery application on Redis, and how switches are handed to it (SPEC §3, §5).

The scheduler and the CLI send tasks by name (:data:`APPLY_TASK`), so they never import the
worker package; the worker registers the task on the same app configuration.

A task message names users whose switches to apply (``owner``), each with their actions' ids
and transitions: never credentials, which each worker reads from its own environment.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Protocol

from celery import Celery
from redis import Redis
from redis.exceptions import RedisError

from shiftswitch.models import Action
from shiftswitch.settings import Settings

APPLY_TASK = "shiftswitch.apply"
QUEUE = "shiftswitch"
UNACKED_KEY = "unacked"  # kombu's Redis transport: messages taken by workers, not yet acked


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
            # A worker killed while it holds the restore mutex would block every restore for
            # the mutex's life (kombu: 5 min). A restore takes milliseconds: keep it short.
            "unacked_mutex_expire": max(5, min(60, round(settings.visibility_timeout / 10))),
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
        "available": action.wants_on,
        "due_at": action.due_at.isoformat(),
    }


Group = tuple[str, Sequence[Action]]  # one user (owner) and their actions, in apply order

USERS_PER_MESSAGE = 16  # at most
SPREAD = 64  # a boundary is cut into at least this many messages before they grow past one user


class Dispatcher(Protocol):
    def dispatch(self, groups: Sequence[Group]) -> None:
        """Hand these users' actions, each user's in order, to the workers."""
        ...

    def held(self) -> set[int] | None:
        """The ids of the actions that a message in the broker names, or None: cannot tell."""
        ...


class CeleryDispatcher:
    """Sends the users' actions as task messages, a few users to a message.

    A user's actions always travel together (a handoff's OFF and ON in one message). A large
    boundary puts up to :data:`USERS_PER_MESSAGE` users in a message, which a worker thread
    applies one after the other: that costs the broker and the workers one message per few
    users instead of one per user, while leaving enough messages (:data:`SPREAD`) to keep every
    thread busy. A small boundary sends one user per message, all applied at once.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self.messages = 0  # sent so far

    def dispatch(self, groups: Sequence[Group]) -> None:
        for batch in batches(groups):
            self._app.send_task(
                APPLY_TASK,
                kwargs={
                    "batch": [{"owner": o, "actions": [message(a) for a in g]} for o, g in batch]
                },
                queue=QUEUE,
            )
            self.messages += 1

    def held(self) -> set[int] | None:
        """The actions named by a message waiting in the queue, or taken by a worker and not
        yet acknowledged (kombu's ``unacked`` hash; a retry waiting for its countdown is one).
        None when Redis cannot be read."""
        try:
            with Redis.from_url(self._app.conf.broker_url, socket_timeout=10) as client:
                waiting = client.lrange(QUEUE, 0, -1)
                taken = client.hvals(UNACKED_KEY)
        except (RedisError, ValueError):  # unreachable, or a URL redis-py cannot open
            return None
        ids: set[int] = set()
        for raw in waiting:
            ids |= _action_ids(raw)
        for raw in taken:
            with suppress(ValueError, TypeError, IndexError):
                ids |= _action_ids(json.dumps(json.loads(raw)[0]))
        return ids


def _action_ids(raw: bytes | str) -> set[int]:
    """The action ids a kombu message payload names; none if it is not one of ours."""
    try:
        payload = json.loads(raw)
        body = payload["body"]
        if payload.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _args, kwargs, _embed = json.loads(body)
        users = kwargs.get("batch") or [{"actions": kwargs.get("actions") or []}]
        return {int(a["id"]) for user in users for a in user["actions"]}
    except (ValueError, TypeError, KeyError, AttributeError):
        return set()


def batches(groups: Sequence[Group]) -> list[Sequence[Group]]:
    """``groups`` cut into messages: one user each up to :data:`SPREAD` users, then more."""
    size = max(1, min(USERS_PER_MESSAGE, -(-len(groups) // SPREAD)))
    return [groups[i : i + size] for i in range(0, len(groups), size)]
