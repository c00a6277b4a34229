"""The worker's Celery app and its one task, ``shiftswitch.apply``.

``shiftswitch worker``, ``celery -A worker worker`` and ``celery -A worker.app worker`` all run
this app, configured the same way in the app and its signals: a pool of threads
(``worker_pool``, ``worker_concurrency``), shiftswitch's log format and levels
(``setup_logging``), Prometheus metrics when ``SHIFTSWITCH_METRICS_PORT`` is set
(``worker_init``), a heartbeat naming the task messages it holds and the users it keeps
through a short wait (``worker_ready`` to ``worker_shutdown``), and neither gossip, mingle nor
Celery's event heartbeats (its ``Worker`` class). Settings are read at the entry point (the
CLI, or :func:`__getattr__` for Celery's ``-A``); the database engine, Redis and Exotel
clients are built on the first task, in the worker process, never at import.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from celery import Celery, signals
from celery.exceptions import CPendingDeprecationWarning
from sqlalchemy import Engine

from shiftswitch import logs, metrics, redisclient
from shiftswitch.broker import APPLY_TASK, QUEUE, make_celery, reprs
from shiftswitch.budget import RateLimiter
from shiftswitch.clock import SystemClock
from shiftswitch.coordination import Leases
from shiftswitch.db import autocommit_engine, first_line, make_engine
from shiftswitch.exotel import ExotelClient, session
from shiftswitch.heartbeats import Heartbeat
from shiftswitch.models import Action
from shiftswitch.notify import service as notify_service
from shiftswitch.notify.deliverer import DelivererThread
from shiftswitch.outages import Outages
from shiftswitch.settings import (
    CONNECT_TIMEOUT,
    DEFAULT_WORKER_CONCURRENCY,
    ConfigError,
    Settings,
    credentials,
)
from shiftswitch.sources.source import reads_stored
from shiftswitch.turns import TurnStore
from worker.apply import apply_owner, last_of
from worker.beating import Beating
from worker.context import CredentialsMissing, Defer, WorkerContext
from worker.kept import Keeper, User

log = logging.getLogger("shiftswitch.worker")
UNEXPECTED_RETRY_SECONDS = 5.0
DEFAULT_CONCURRENCY = DEFAULT_WORKER_CONCURRENCY
# Database connections of each pool opened at the start, before the first task, at most (one
# per thread): at the two-account boundary on PostgreSQL the first switch left 0.12-0.24 s
# after the instant with one, 0.05-0.09 s with 16 (BENCHMARKS.md). Not one per thread: a
# worker that never meets a large boundary does not hold them all. (At a large one each pool
# grows to the threads and 16 more: README, DATABASE_URL.)
WARM_CONNECTIONS = 16


class Clients:
    """One Exotel client per account, credentials from this process's environment, all on one
    session whose pool keeps ``pool_size`` connections per host: one per worker thread."""

    def __init__(self, settings: Settings, pool_size: int = DEFAULT_CONCURRENCY) -> None:
        self._settings = settings
        self._session = session(pool_size)
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


def build_context(settings: Settings, concurrency: int = DEFAULT_CONCURRENCY) -> WorkerContext:
    """The context of a worker process running ``concurrency`` threads."""
    # No ping before every checkout (a round trip per transaction, three per switch): if the
    # server drops its connections, the first statement to fail makes SQLAlchemy discard the
    # whole pool, and that task is tried again (UNEXPECTED_RETRY_SECONDS) on fresh ones.
    # One connection per thread, a few more for the transactions a turn opens beside its own
    # (a stored roster following a number change), and a little room for bursts.
    engine = make_engine(
        settings.database_url,
        pool_size=concurrency + 8,
        max_overflow=8,
        pool_pre_ping=False,
    )
    redis = redisclient.client(settings.redis)
    leases = Leases(redis, settings.lock_ttl)
    reads = autocommit_engine(engine, pool_size=concurrency + 8, max_overflow=8)
    store = TurnStore(engine, reads)
    store.notify = notify_service.configured(settings.notify_path)
    store.late_after = settings.late_after
    return WorkerContext(
        store=store,
        lease=leases,
        one_after_another=leases.one_after_another,
        budget=RateLimiter(redis),
        client_for=Clients(settings, pool_size=concurrency),
        outages=Outages(engine),
        policy=settings.retry,
        clock=SystemClock(),
        rng=random.Random(),  # noqa: S311 -- jitter, not secrets
        stored_roster=reads_stored(settings),
        read_back_after=settings.read_back_after,
        # A task coming back for its slot must not outlive the broker's visibility timeout.
        horizon=min(300.0, settings.visibility_timeout / 2),
    )


# Celery's "Task ... received" and "... succeeded" lines say less than the worker's own line
# per action (agent, device, state, status), and cost as much to write.
QUIET_LOGGERS = ("celery.worker.strategy", "celery.app.trace")

# At each loss of the broker, Celery warns that a later release will cancel the tasks under
# way (worker_cancel_long_running_tasks_on_connection_loss). This worker lets them finish on
# purpose: a thread cannot be cancelled mid-request, their messages go back to the queue
# anyway, and a user's lease keeps a redelivered message from sending what is under way.
# Celery's logging setup sets CPendingDeprecationWarning to "always", so the filter is added
# once the worker is ready, after it (quiet_the_cancel_notice).
CANCEL_NOTICE = r"\s*In Celery 5\.1 we introduced an optional breaking change"


def notify_engine(settings: Settings) -> Engine:
    """A small engine of the worker's own for its notification thread (a few statements a
    second at most), apart from the pool its switches use."""
    return make_engine(settings.database_url, pool_size=1, max_overflow=1)


def stop_telling(telling: list[DelivererThread | None]) -> None:
    while telling:
        thread = telling.pop()
        if thread is not None:
            thread.stop()


def quiet_the_cancel_notice() -> None:
    warnings.filterwarnings("ignore", message=CANCEL_NOTICE, category=CPendingDeprecationWarning)


class OncePerBrokerOutage(logging.Filter):
    """Celery says "Cannot connect to ..." at each try to reach a lost broker (every second,
    see :data:`shiftswitch.broker_connection.RECONNECT_EVERY`): the first line of an outage
    passes, the rest wait for "Connected to ...", which says it is over."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("consumer: Cannot connect to"):
            said, self.down = self.down, True
            return not said
        if message.startswith("Connected to"):
            self.down = False
        return True


# The loggers of Celery's consumer (its reconnects) and of its connection step ("Connected").
BROKER_LOGGERS = ("celery.worker.consumer.consumer", "celery.worker.consumer.connection")


def quiet_the_reconnects() -> None:
    once = OncePerBrokerOutage()
    for name in BROKER_LOGGERS:
        logging.getLogger(name).addFilter(once)


def create_app(settings: Settings, metrics_port: int | None = None) -> Celery:
    """The Celery app with the ``apply`` task bound to a lazily built context, and the worker
    settings and signals that make any way of starting it the same worker. ``metrics_port``:
    serve Prometheus metrics there once the worker starts."""
    app = make_celery(settings)
    # Most of a switch is spent waiting for Exotel and for the account's request budget:
    # threads, not processes.
    app.conf.update(worker_pool="threads", worker_concurrency=DEFAULT_CONCURRENCY)
    context: list[WorkerContext] = []
    guard = threading.Lock()
    threads = [DEFAULT_CONCURRENCY]
    beating: list[Beating] = []
    telling: list[DelivererThread | None] = []

    def on_worker_init(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:  # another app's worker, in a test
            return
        threads[0] = concurrency_of(sender)
        quiet_the_reconnects()  # before the first connection: a start while Redis is away too
        if metrics_port:
            metrics.serve(metrics_port)

    def on_worker_ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app or beating:  # sender: the consumer
            return
        quiet_the_cancel_notice()
        worker = f"{getattr(sender, 'hostname', 'worker')}/{os.getpid()}/{secrets.token_hex(4)}"
        kept = settle.keep_in(getattr(getattr(sender, "pool", None), "executor", None))
        beating.append(Beating(Heartbeat(redisclient.client(settings.redis), worker), kept=kept))
        settle.named_by = beating[0].named
        beating[0].start()
        telling.append(
            notify_service.start_deliverer(
                settings, notify_engine(settings), SystemClock(), "no_scheduler"
            )
        )
        warming = (get_context, min(threads[0], WARM_CONNECTIONS))
        threading.Thread(target=warm_up, args=warming, name="warm-up", daemon=True).start()

    def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
        settle.stop()  # back to the broker before the heartbeat that names them goes
        while beating:
            beating.pop().stop()
        stop_telling(telling)

    def on_setup_logging(loglevel: Any = None, **_: Any) -> None:
        configure_logging(loglevel)

    signals.worker_init.connect(on_worker_init, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)
    signals.worker_shutdown.connect(on_worker_shutdown, weak=False)
    signals.setup_logging.connect(on_setup_logging, weak=False)
    app.Worker = _alone(app.Worker)

    def get_context() -> WorkerContext:
        with guard:
            if not context:
                context.append(build_context(settings, threads[0]))
            return context[0]

    @app.task(name=APPLY_TASK, max_retries=None, ignore_result=True)  # type: ignore[untyped-decorator]
    def apply(
        batch: list[dict[str, Any]] | None = None,
        owner: str | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> None:
        """Apply each user's actions in turn (``owner`` and ``actions``: the one-user form of
        earlier messages); see :class:`Settling` for a user who must wait."""
        kept = settle.one_after_another(batch or [{"owner": owner, "actions": actions}])
        if any(kept):
            settle.named()  # before the message is acknowledged

    settle = Settling(get_context, apply)
    return app


class Settling:
    """Applies one user of a task message. A user who must wait for a retry planned in the
    database (``Defer.planned``: a request slot, a backoff) is kept by the worker for a short
    wait (:mod:`worker.kept`, once :meth:`keep_in` has a pool of threads); any other comes
    back in a message of its own, with the request slot reserved for it (``slot``), if any."""

    def __init__(
        self, context: Callable[[], WorkerContext], task: Any, keeper: Keeper | None = None
    ) -> None:
        self._context = context
        self._task = task
        self._keeper = keeper  # see keep_in
        # Waits until the heartbeat names the users kept at a version of the keeper's.
        self.named_by: Callable[[int], bool] | None = None

    def __call__(self, user: User) -> bool:
        """Apply ``user``; whether it was kept."""
        defer = _apply_user(self._context, user)
        if defer is None:
            return False
        again = {"owner": user["owner"], "actions": user["actions"]}
        if defer.slot is not None:
            again["slot"] = defer.slot.isoformat()
        keeper = self._keeper
        if defer.planned and keeper is not None and keeper.keep(again, defer.countdown):
            return True
        try:
            self.send_back(again, defer.countdown)
        except Exception as exc:
            # Redis is unreachable: the actions stay open in the database, and the
            # scheduler's sweep sends them again once no message names them.
            log.error("owner=%s could not be sent again: %s", user["owner"], exc)
        return False

    def one_after_another(self, users: list[User]) -> list[bool]:
        """Apply a task message's ``users`` one after the other, each user's lease handed to
        the next (``WorkerContext.one_after_another``); whether each was kept."""
        try:
            in_turn = self._context().one_after_another()
        except Exception:  # the context cannot be built: each user says why, and comes back
            in_turn = nullcontext()
        with in_turn:
            return [self(user) for user in users]

    def named(self) -> None:
        """Wait until the heartbeat names the users kept so far (a task's, before its message
        is acknowledged: until then the message names them)."""
        keeper, named_by = self._keeper, self.named_by
        if keeper is not None and named_by is not None:
            named_by(keeper.version)

    def send_back(self, user: User, countdown: float) -> None:
        self._task.apply_async(
            kwargs={"batch": [user]}, countdown=countdown, queue=QUEUE, **reprs([user])
        )

    def keep_in(self, executor: object) -> Callable[[], tuple[int, list[User]]] | None:
        """Keep users who must wait in ``executor`` (Celery's pool of threads; anything else
        keeps nothing); what is kept, for the heartbeat."""
        if not isinstance(executor, ThreadPoolExecutor) or self._keeper is not None:
            return None
        self._keeper = Keeper(executor.submit, self, self.send_back)
        return self._keeper.users

    def stop(self) -> None:
        """Keep nothing more, and send the users kept back to the broker."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop()


def warm_up(context: Callable[[], WorkerContext], connections: int = 1) -> None:
    """Build the worker's context, open ``connections`` to the database and run a turn's SQL
    once, before the first task: the first switch after a start would otherwise wait for all
    three (about 60 ms here for the first two; on PostgreSQL, the connections of a boundary's
    first threads another 70-150 ms). Best effort: a database not reachable yet is met again
    by the first task."""
    try:
        ctx = context()
        refused = ctx.store.warm(ctx.clock.now(), connections)
        if refused is not None:
            log.warning("database connections before the first task: %s", refused)
    except Exception as exc:
        log.warning("could not prepare for the first task: %s", first_line(exc))


def _alone(base: type[Any]) -> type[Any]:
    """Celery's worker class, run without gossip, mingle and event heartbeats: each worker
    applies its users' actions alone, with nothing to learn from the others (revoked tasks,
    clocks), and tells whoever watches through its own heartbeat (:class:`Beating`)."""

    class Worker(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(without_gossip=True, without_mingle=True, without_heartbeat=True)
            super().__init__(*args, **kwargs)

    return Worker


def configure_logging(level: Any = None) -> None:
    """shiftswitch's log lines (``SHIFTSWITCH_LOG_FORMAT``: text or json) at Celery's level."""
    name = logging.getLevelName(level) if isinstance(level, int) else str(level or "INFO")
    fmt = os.environ.get("SHIFTSWITCH_LOG_FORMAT", "text").strip().lower() or "text"
    logs.configure(name, fmt if fmt in logs.FORMATS else "text")
    if logging.getLogger().level > logging.DEBUG:
        for quiet in QUIET_LOGGERS:
            logging.getLogger(quiet).setLevel(logging.WARNING)


def concurrency_of(worker: Any) -> int:
    """How many tasks ``worker`` (Celery's WorkController) runs at once, as ``--concurrency``
    or ``worker_concurrency`` set it; :data:`DEFAULT_CONCURRENCY` when it says no number."""
    threads = getattr(worker, "concurrency", None)
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0:
        return threads
    return DEFAULT_CONCURRENCY


def _apply_user(context: Callable[[], WorkerContext], user: dict[str, Any]) -> Defer | None:
    """Apply one user's actions (a message's ``owner``, ``actions`` and ``slot``); None when
    done, else when to come back."""
    owner = user["owner"]
    slot = _instant(user.get("slot"))
    try:
        apply_owner(context(), owner, last_of(user["actions"]), slot)
    except Defer as defer:
        log.debug("owner=%s deferred: %s", owner, defer)
        return defer
    except Exception as exc:
        # The database or Redis failed under us (or a bug): the actions stay open in the
        # database, so try again shortly rather than drop them.
        log.exception("owner=%s failed: %s; trying again", owner, exc)
        return Defer(UNEXPECTED_RETRY_SECONDS, "unexpected failure")
    return None


def _instant(raw: object) -> datetime | None:
    """A message's ``slot``: an ISO 8601 instant, or nothing (a message of an older worker)."""
    if not isinstance(raw, str):
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def __getattr__(name: str) -> Any:
    """``worker.app.app``, built from the environment on first use (``celery -A worker.app``).

    Importing this module builds nothing, so ``shiftswitch worker`` can build its own app
    from its settings without a second registration of the task.
    """
    if name == "app":
        port = os.environ.get("SHIFTSWITCH_METRICS_PORT", "").strip()
        app = create_app(Settings.from_env(), metrics_port=int(port) if port.isdigit() else None)
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
