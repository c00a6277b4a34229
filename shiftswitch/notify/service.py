"""Notifications in a process (README: Notifications): its configuration, read once, and its
deliverer's thread."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from sqlalchemy import Engine

from shiftswitch.clock import Clock
from shiftswitch.notify.config import NotifyConfig, load_config
from shiftswitch.notify.deliverer import Deliverer, DelivererThread
from shiftswitch.settings import Settings


@lru_cache(maxsize=8)
def configured(path: str | None) -> NotifyConfig:
    """The channels and rules of ``SHIFTSWITCH_NOTIFY`` (read once per process)."""
    return load_config(path)


def start_deliverer(settings: Settings, engine: Engine, clock: Clock) -> DelivererThread | None:
    """A deliverer ticking in this process, taking its turn by the lease; None when no channel
    is configured."""
    config = configured(settings.notify_path)
    if not config.channels:
        return None
    redis = Redis.from_url(settings.redis_url)
    deliverer = Deliverer(engine, config, redis=redis, public_url=settings.public_url)
    return DelivererThread(deliverer, clock).start()
