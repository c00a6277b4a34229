"""The worker's Celery app and its one task, ``shiftswitch.apply``.

``celery -A worker.app worker`` and ``shiftswitch worker`` both load this module. Settings are
read here, at the entry point; the database engine, Redis and Exotel clients are built on the
first task, in the worker process, never at import.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from celery import Celery
from redis import Redis

from shiftswitch.actions import Store
from shiftswitch.broker import APPLY_TASK, make_celery
from shiftswitch.clock import SystemClock
from shiftswitch.coordination import RateLimiter
from shiftswitch.db import make_engine
from shiftswitch.exotel import ExotelClient, session
from shiftswitch.models import Action
from shiftswitch.settings import CONNECT_TIMEOUT, ConfigError, Settings, credentials
from worker.apply import CredentialsMissing, Defer, WorkerContext, apply_owner

log = logging.getLogger("shiftswitch.worker")
UNEXPECTED_RETRY_SECONDS = 5.0


class Clients:
    """One pooled Exotel client per account, credentials from this process's environment."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session = session()
        self._clients: dict[tuple[str, str, str], ExotelClient] = {}
        self._lock = threading.Lock()

    def __call__(self, action: Action) -> ExotelClient:
        key = (action.account, action.base_url, action.sid)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    creds = credentials(action.account)
                except ConfigError as exc:
                    raise CredentialsMissing(str(exc)) from None
                client = ExotelClient(
                    action.base_url,
                    action.sid,
                    creds,
                    session=self._session,
                    timeout=(CONNECT_TIMEOUT, self._settings.http_timeout),
                )
                self._clients[key] = client
            return client


def build_context(settings: Settings) -> WorkerContext:
    engine = make_engine(settings.database_url, pool_size=40, max_overflow=20)
    redis = Redis.from_url(settings.redis_url)
    store = Store(engine)
    return WorkerContext(
        sessions=store.sessions,
        store=store,
        redis=redis,
        limiter=RateLimiter(redis),
        client_for=Clients(settings),
        policy=settings.retry,
        lock_ttl=settings.lock_ttl,
        clock=SystemClock(),
        rng=random.Random(),  # noqa: S311 -- jitter, not secrets
    )


def create_app(settings: Settings) -> Celery:
    """The Celery app with the ``apply`` task bound to a lazily built context."""
    app = make_celery(settings)
    context: list[WorkerContext] = []
    guard = threading.Lock()

    def get_context() -> WorkerContext:
        with guard:
            if not context:
                context.append(build_context(settings))
            return context[0]

    @app.task(name=APPLY_TASK, bind=True, max_retries=None, ignore_result=True)  # type: ignore[untyped-decorator]
    def apply(self: Any, owner: str, actions: list[dict[str, Any]]) -> None:
        try:
            apply_owner(get_context(), owner, [int(a["id"]) for a in actions])
        except Defer as defer:
            log.debug("owner=%s deferred: %s", owner, defer)
            raise self.retry(countdown=defer.countdown) from None
        except Exception as exc:
            # The database or Redis failed under us (or a bug): the actions stay open in the
            # database, so try again shortly rather than drop the message.
            log.exception("owner=%s failed: %s; trying again", owner, exc)
            raise self.retry(countdown=UNEXPECTED_RETRY_SECONDS) from None

    return app


app = create_app(Settings.from_env())
