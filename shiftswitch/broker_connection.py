"""The broker connection: how it behaves when Redis goes away (README: How switching works).

kombu, left to itself, waits up to 30 s between tries of a lost broker, and a worker that loses
Redis while it holds messages (a restart, a failover to a replica) ends: Celery detaches the
connection's transport before it closes the channel, whose closing (it puts the messages back in
the queue) and later acknowledgements then fail on the missing transport with AttributeError.
Here the connection is tried again every second, and a channel whose connection is gone treats
Redis as unreachable: the messages stay in kombu's unacknowledged hash, where the scheduler's
sweep gives them back to a worker (README: Recovery), and the worker goes on.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from celery.app.amqp import AMQP
from kombu.connection import Connection
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger("shiftswitch.broker")

# kombu tries a lost broker again after 2, 4, 6 ... up to 30 s: a worker would be back up to 30 s
# after Redis. Every process here tries again every second, for as long as it takes.
RECONNECT_EVERY = 1.0


class PromptConnection(Connection):
    """A broker connection that, while it cannot be made, is tried again every
    :data:`RECONNECT_EVERY` (when its caller gives no intervals, as Celery's consumer does),
    on :func:`detachable` channels."""

    def _ensure_connection(  # type: ignore[override]
        self,
        errback: Any = None,
        max_retries: int | None = None,
        interval_start: float = RECONNECT_EVERY / 2,
        interval_step: float = RECONNECT_EVERY / 2,
        interval_max: float = RECONNECT_EVERY,
        **kwargs: Any,
    ) -> Any:
        return super()._ensure_connection(  # type: ignore[no-untyped-call]
            errback, max_retries, interval_start, interval_step, interval_max, **kwargs
        )

    def get_transport_cls(self) -> Any:
        return detachable(super().get_transport_cls())  # type: ignore[no-untyped-call]


class PromptAMQP(AMQP):  # type: ignore[misc]
    """Celery's AMQP layer, on :class:`PromptConnection`."""

    Connection = PromptConnection


class _Detachable:
    """A kombu Redis channel that, once its connection has let go of it, fails as Redis
    unreachable fails (a connection error, which kombu and Celery expect and survive) and
    acknowledges nothing: the message stays in Redis, to be given back by the sweep."""

    connection: Any

    def _get_pool(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._get_pool(asynchronous)  # type: ignore[misc]

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        if self.connection.client is None:
            log.warning(
                "message %s not acknowledged: its broker connection was lost (the scheduler's "
                "sweep gives it back; what it did is final and is not done again)",
                delivery_tag,
            )
            return
        super().basic_ack(delivery_tag, multiple)  # type: ignore[misc]


@cache
def detachable(transport: type) -> type:
    """``transport`` with :class:`_Detachable` channels, when it is kombu's Redis transport (or
    its Sentinel one); any other as it is."""
    channel = getattr(transport, "Channel", None)
    if not (isinstance(channel, type) and issubclass(channel, kombu_redis.Channel)):
        return transport
    guarded = type(channel.__name__, (_Detachable, channel), {})
    return type(transport.__name__, (transport,), {"Channel": guarded})
