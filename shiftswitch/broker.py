"""The Celery application on Redis, and how switches are handed to it (README: How switching works).

The scheduler and the CLI send tasks by name (:data:`APPLY_TASK`), so they never import the
worker package; the worker registers the task on the same app configuration.

A task message names users whose switches to apply (``owner``), each with their actions' ids
and transitions: never credentials, which each worker reads from its own environment.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from celery import Celery
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from shiftswitch import redisclient, redisurl
from shiftswitch.broker_connection import PromptAMQP
from shiftswitch.heartbeats import SETTLE, read_beats
from shiftswitch.pacing import parse_rate
from shiftswitch.recovery import Holdings, cover, orphans
from shiftswitch.settings import Settings

log = logging.getLogger("shiftswitch.broker")

APPLY_TASK = "shiftswitch.apply"
QUEUE = "shiftswitch"
UNACKED_KEY = "unacked"  # kombu's Redis transport: messages taken by workers, not yet acked
UNACKED_INDEX_KEY = "unacked_index"  # ... and when each was taken (seconds, the worker's clock)
# A message a worker took this long ago is named by its heartbeat, if the worker lives: longer
# than a beat (heartbeats.BEAT_EVERY), with room for clocks a few seconds apart.
ORPHAN_AFTER = 10.0


def make_celery(settings: Settings) -> Celery:
    """The Celery app: Redis broker, JSON only, late acks, no result backend; a lost broker
    tried again every second, for as long as it takes."""
    place = settings.redis
    app = Celery(
        "shiftswitch", broker=redisurl.broker_url(place), set_as_current=False, amqp=PromptAMQP
    )
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
        broker_connection_max_retries=None,  # a worker waits for Redis, however long it is away
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Look for tasks of dead workers (unacknowledged past the visibility timeout) every
            # few seconds, not kombu's default of every 100 s.
            "unacked_restore_interval": max(1.0, min(10.0, settings.visibility_timeout / 5)),
            "unacked_restore_throttle": 1,
            # A worker killed while it holds the restore mutex would block every restore for
            # the mutex's life (kombu: 5 min). A restore takes milliseconds: keep it short.
            "unacked_mutex_expire": max(5, min(60, round(settings.visibility_timeout / 10))),
            **redisurl.transport_options(place),  # through sentinels: the primary's name
        },
        enable_utc=True,
    )
    return app


class Sendable(Protocol):
    """An action as it is handed to the broker: what its task message and its pacing read (a
    recorded :class:`~shiftswitch.models.Action`, or the lighter
    :class:`~shiftswitch.claims.Claimed`)."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def user_key(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def sid(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def rate_limit(self) -> str: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def device(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def wants_on(self) -> bool: ...
    @property
    def due_at(self) -> datetime: ...


def message(action: Sendable) -> dict[str, Any]:
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


def reprs(users: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The ``argsrepr`` and ``kwargsrepr`` of a task message naming ``users``, which Celery
    shows in its events and ``celery inspect``: the users' keys. Celery's own (a safe repr of
    every action) cost 0.25 ms a message, a third of sending one."""
    owners = [str(user.get("owner")) for user in users]
    if len(owners) > REPR_USERS:
        owners[REPR_USERS:] = [f"... {len(owners) - REPR_USERS} more"]
    return {"argsrepr": "()", "kwargsrepr": f"{{'batch': [{', '.join(owners)}]}}"}


REPR_USERS = 8  # users a message's repr names, at most


Group = tuple[str, Sequence[Sendable]]  # one user (owner) and their actions, in apply order

USERS_PER_MESSAGE = 16  # at most
SPREAD = 64  # a boundary is cut into at least this many messages before they grow past one user
# And each of its waves into at least this many (one per user in a smaller wave): fewer users
# to a message apply a wave sooner, more messages cost more CPU. Measured at the two-account
# boundary of BENCHMARKS.md: 4 as fast as 8, with less CPU; no such bound (16 users to a message)
# left an account's first and last slots unused.
WAVE_SPREAD = 4


class Dispatcher(Protocol):
    def dispatch(self, groups: Sequence[Group]) -> None:
        """Hand these users' actions, each user's in order, to the workers."""
        ...

    def held(self) -> set[int] | None:
        """The ids of the actions that a message in the broker names, or None: cannot tell."""
        ...


@runtime_checkable
class Recovering(Protocol):
    """A dispatcher that also knows which messages live workers hold."""

    def recover(self, grace: float = ORPHAN_AFTER) -> Holdings | None:
        """Put back in the queue the messages of workers that died (taken more than ``grace``
        seconds ago, held by no live worker); then what every message covers. None: cannot
        tell (Redis unreachable, or the workers' heartbeats not settled yet)."""
        ...


@runtime_checkable
class Connecting(Protocol):
    """A dispatcher that can open its connection to the broker ahead of the first message."""

    def connect(self) -> None:
        """Connect now, so that the first message does not wait for it (best effort: a broker
        unreachable now is connected to at the first message, as without this)."""
        ...


class CeleryDispatcher:
    """Sends the users' actions as task messages, a few users to a message.

    A user's actions always travel together (a handoff's OFF and ON in one message). A large
    boundary puts several users in a message, which a worker thread applies one after the
    other: that costs the broker and the workers one message per few users instead of one per
    user. Each wave (:func:`paced`) is cut into several messages (:data:`WAVE_SPREAD`), so that
    its users are not applied by one or two threads alone, and its users are dealt to its
    messages in turn (:func:`batches`): a message's users have slots spread across the wave, so
    no message holds the wave's first slots while its last users wait. A small boundary
    (:data:`SPREAD`) sends one user per message, all applied at once.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self.messages = 0  # sent so far
        self.restored = 0  # messages of dead workers put back in the queue so far
        self._redis: Redis | None = None

    def dispatch(self, groups: Sequence[Group]) -> None:
        visibility = self._app.conf.broker_transport_options.get("visibility_timeout")
        horizon = min(PACE_HORIZON, float(visibility or PACE_HORIZON * 2) / 2)
        # One producer for the whole boundary, not one taken from the pool per message.
        with self._app.producer_or_acquire() as producer:
            for countdown, batch in messages(groups, horizon):
                users = [{"owner": o, "actions": [message(a) for a in g]} for o, g in batch]
                self._app.send_task(
                    APPLY_TASK,
                    kwargs={"batch": users},
                    queue=QUEUE,
                    countdown=countdown or None,
                    producer=producer,
                    **reprs(users),
                )
                self.messages += 1

    def connect(self) -> None:
        # The first message would otherwise import the transport, connect, declare the queue
        # and build Celery's sender: tens of milliseconds added to the first boundary.
        try:
            with self._app.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=0)
                producer.maybe_declare(self._app.amqp.queues[QUEUE])
            _ = self._app.amqp.send_task_message  # built at the first message otherwise
        except Exception as exc:  # best effort: the first message connects
            log.warning("cannot connect to the broker yet: %s", exc)

    def held(self) -> set[int] | None:
        """The actions named by a message waiting in the queue, or taken by a worker and not
        yet acknowledged (kombu's ``unacked`` hash; a retry waiting for its countdown is one).
        None when Redis cannot be read."""
        try:
            with broker_redis(self._app) as client:
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

    def recover(self, grace: float = ORPHAN_AFTER) -> Holdings | None:
        """Put back in the queue, first in line, the messages that workers took and no live
        worker holds (the worker died), as kombu would after the visibility timeout; then what
        the messages in the queue, those taken, and those live workers hold cover.

        Only this app's task messages are touched. A message taken less than ``grace`` seconds
        ago is left alone: its worker may not have named it in a heartbeat yet.
        """
        try:
            client = self._client()
            beats = read_beats(client)
            if beats.settling:
                # Redis lost its data a moment ago: the live workers beat again within a
                # second or two. Wait for them rather than judge without them.
                time.sleep(min(beats.settling, SETTLE))
                beats = read_beats(client)
                if beats.settling:
                    return None
            index: Any = client.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True)
            taken = {bytes(tag).decode(): float(at) for tag, at in index}
            dead = orphans(taken, beats.tags, beats.now, grace)
            restored = sum(_restore(client, tag) for tag in dead)
            waiting = client.lrange(QUEUE, 0, -1)
            held = client.hvals(UNACKED_KEY)
        except (RedisError, ValueError):  # unreachable, or a URL redis-py cannot open
            return None
        if restored:
            self.restored += restored
            log.warning("restored=%d messages of workers that died, back in the queue", restored)
        holdings = Holdings()
        holdings.add(beats.owners)
        for raw in waiting:
            holdings.add(cover(_kwargs(raw)))
        for raw in held:
            with suppress(ValueError, TypeError, IndexError):
                holdings.add(cover(_kwargs(json.loads(raw)[0])))
        return holdings

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = broker_redis(self._app)
        return self._redis


def broker_redis(app: Celery) -> Redis:
    """A client of the Redis the broker of ``app`` uses (its primary, through sentinels)."""
    options = app.conf.broker_transport_options or {}
    place = redisurl.parse(
        app.conf.broker_url,
        options.get("master_name"),
        sentinel_password=(options.get("sentinel_kwargs") or {}).get("password"),
    )
    return redisclient.client(place, socket_timeout=10)


def _restore(client: Redis, tag: str) -> bool:
    """Move the message taken under ``tag`` from kombu's unacknowledged ones back to the front
    of the queue, in one transaction that a worker's ack in between makes start again (then the
    message is gone, and nothing is done). False when it is gone, or not one of ours."""
    restored = False

    def move(pipe: Pipeline) -> None:
        nonlocal restored
        raw = pipe.hget(UNACKED_KEY, tag)
        entry = json.loads(raw) if raw else None
        payload = entry[0] if entry else None
        pipe.multi()
        if not isinstance(payload, dict) or payload.get("headers", {}).get("task") != APPLY_TASK:
            restored = False
            return  # gone (acked), or another application's: not ours to judge
        payload["headers"]["redelivered"] = True
        with suppress(KeyError, TypeError):
            payload["properties"]["delivery_info"]["redelivered"] = True
        pipe.zrem(UNACKED_INDEX_KEY, tag)
        pipe.hdel(UNACKED_KEY, tag)
        pipe.rpush(QUEUE, json.dumps(payload))  # workers pop from the right: taken next
        restored = True

    client.transaction(move, UNACKED_KEY)
    return restored


def _kwargs(payload: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The keyword arguments of a kombu message (its JSON, or the decoded payload); empty if it
    is not one of ours."""
    try:
        message = json.loads(payload) if isinstance(payload, bytes | str) else payload
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _args, kwargs, _embed = json.loads(body)
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
    return kwargs if isinstance(kwargs, Mapping) else {}


def _action_ids(raw: bytes | str) -> set[int]:
    """The action ids a kombu message payload names; none if it is not one of ours."""
    kwargs = _kwargs(raw)
    try:
        users = kwargs.get("batch") or [{"actions": kwargs.get("actions") or []}]
        return {int(a["id"]) for user in users for a in user["actions"]}
    except (ValueError, TypeError, KeyError, AttributeError):
        return set()


PACE_WINDOW = 0.25  # seconds of an account's request slots per wave of messages
# No message is held back longer, nor longer than half the visibility timeout (a message held
# longer would be given to a second worker).
PACE_HORIZON = 300.0


def paced(
    groups: Sequence[Group], window: float = PACE_WINDOW, horizon: float = PACE_HORIZON
) -> list[tuple[float, list[Group]]]:
    """``groups`` in waves, each with the countdown after which its messages are due.

    An account's requests leave one every ``spacing`` seconds (its rate limit), so the users of
    a large boundary are sent in waves, each due when its users' slots come up: the n-th request
    of the account about ``n * spacing`` seconds on, in ``window``-wide waves, none held back
    longer than ``horizon``. A worker then finds each user's slot about due when the message
    arrives: no thread waits long for a slow account while another's switches queue behind it,
    and no task has to come back for its slot. (The estimate starts from now; the workers' shared
    budget in Redis still decides each request's slot.)"""
    waves: dict[float, list[Group]] = {}
    requests: dict[tuple[str, str], int] = {}
    spacings: dict[str, float] = {}
    for owner, actions in groups:
        first = actions[0]
        if first.rate_limit not in spacings:
            limit = parse_rate(first.rate_limit)
            spacings[first.rate_limit] = 0.0 if limit is None else limit.spacing
        account = (first.base_url, first.sid)
        n = requests.get(account, 0)
        requests[account] = n + len(actions)
        offset = n * spacings[first.rate_limit]
        wave = min(horizon, (offset // window) * window)
        waves.setdefault(wave, []).append((owner, actions))
    return sorted(waves.items())


def messages(
    groups: Sequence[Group], horizon: float = PACE_HORIZON
) -> list[tuple[float, Sequence[Group]]]:
    """The task messages of a boundary's ``groups``: each message's users, with the countdown
    after which it is due (:func:`paced`, then :func:`batches` of :func:`batch_size`)."""
    return [
        (countdown, batch)
        for countdown, part in paced(groups, horizon=horizon)
        for batch in batches(part, batch_size(len(groups), len(part)))
    ]


def batch_size(users: int, wave: int | None = None) -> int:
    """Users to a message at a boundary of ``users``: one each up to :data:`SPREAD` users, then
    more, up to :data:`USERS_PER_MESSAGE`; in a wave of ``wave`` users (None: the whole
    boundary is one wave), never so many that the wave makes fewer than :data:`WAVE_SPREAD`
    messages.

    A thread applies a message's users one after the other, each taking about one request's
    time at Exotel: 16 users to a message made a wave of 0.25 s of slots take close to a second
    (at 50 ms a request), and an account's first and last slots went unused."""
    size = min(USERS_PER_MESSAGE, -(-users // SPREAD))
    if wave is not None:
        size = min(size, -(-wave // WAVE_SPREAD))
    return max(1, size)


def batches(groups: Sequence[Group], size: int | None = None) -> list[Sequence[Group]]:
    """``groups`` (in slot order) cut into messages of at most ``size`` users (default:
    :func:`batch_size`), dealt in turn: message ``j`` of ``m`` has users ``j``, ``j + m``,
    ``j + 2m``..., so each message's users have slots spread across the ``groups``' span."""
    size = size or batch_size(len(groups))
    messages = -(-len(groups) // size)
    return [groups[j::messages] for j in range(messages)]
