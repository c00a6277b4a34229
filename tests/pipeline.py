"""Running the real pipeline in tests: a sandbox, worker processes, a scheduler on a test clock.

Each test gets its own database (SQLite or PostgreSQL), its own Redis database (flushed before
and after) and its own sandbox on a free port. Workers are real ``shiftswitch worker``
processes, the test's own or one shared by the tests that want a plain worker
(:class:`SharedWorker`); the scheduler runs in the test on a
:class:`~shiftswitch.clock.FixedClock`, so a boundary happens when the test moves the clock,
and the worker's own clock is never faked.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import requests
import yaml
from redis import Redis
from sqlalchemy import select

from scheduler.loop import STALL, Scheduler
from shiftswitch import broker
from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.clock import FixedClock
from shiftswitch.db import make_engine
from shiftswitch.heartbeats import read_beats
from shiftswitch.models import FINAL_STATUSES, Action, Attempt
from shiftswitch.sandbox.seed import load_seed
from shiftswitch.sandbox.server import Sandbox
from shiftswitch.settings import Settings
from shiftswitch.sources.source import RosterFile, RosterSource, RosterTables
from shiftswitch.sources.store import RosterStore
from tests.commands import Ran, shiftswitch
from tests.services import PIPELINE_REDIS_DBS, redis_url

API_KEY = "pipeline-key"
API_TOKEN = "pipeline-token-5ec7e7-never-shown"  # looked for in logs, tables and messages

# Short timeouts so that retries, redelivery and expired locks happen within a test.
FAST_ENV = {
    "SHIFTSWITCH_HTTP_TIMEOUT": "1.0",
    "SHIFTSWITCH_LOCK_TTL": "6",
    "SHIFTSWITCH_VISIBILITY_TIMEOUT": "5",
    "SHIFTSWITCH_RETRY_BASE_DELAY": "0.2",
    "SHIFTSWITCH_RETRY_MAX_DELAY": "2",
    "SHIFTSWITCH_RETRY_MAX_ATTEMPTS": "8",
    "SHIFTSWITCH_RETRY_MAX_AGE": "120",
}


# The scheduler on the test clock ticks this far apart: the longest gap it takes as running on
# (a longer one is a stall, handled like a restart).
STEP = STALL


def monday_before(today: date) -> date:
    """The Monday of the week before ``today``'s: 7 to 13 days before it.

    The pipelines' clock starts at that Monday's midnight, computed from the machine's date, so
    that the suite runs alike on any day. Every time a pipeline reaches (a day or so past its
    start) is then in the past of the machine's clock, every day: a command that checks a
    pipeline's time against the real clock instead of the test's fails today, not on the day
    the pipeline's literal date went by.
    """
    return today - timedelta(days=today.weekday() + 7)


MONDAY = monday_before(datetime.now(UTC).date())  # the pipelines' clock starts at its midnight


def user(uid: str, *devices: tuple[str, str, str], verified: bool = True) -> dict[str, Any]:
    """A sandbox user; each device is (id, name, contact URI)."""
    return {
        "id": uid,
        "first_name": uid,
        "devices": [
            {"id": d, "name": n, "contact_uri": c, "verified": verified, "available": False}
            for d, n, c in devices
        ],
    }


def credentials_of(sid: str) -> tuple[str, str]:
    """A sandbox account's API key and token: :data:`API_KEY` and :data:`API_TOKEN` for
    ``acme_corp``, made from them for the others."""
    if sid == "acme_corp":
        return API_KEY, API_TOKEN
    return f"{API_KEY}-{sid}", f"{API_TOKEN}-{sid}"


def seed_file(
    path: Path,
    users: Sequence[Mapping[str, Any]],
    rate_limit: str | None,
    more: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Path:
    """The sandbox's seed: ``users`` in account ``acme_corp``, and ``more`` accounts (sid:
    users) beside it, each with ``rate_limit`` and credentials of its own
    (:func:`credentials_of`)."""
    accounts: dict[str, Any] = {}
    for sid, its_users in {"acme_corp": users, **(more or {})}.items():
        key, token = credentials_of(sid)
        account: dict[str, Any] = {"api_key": key, "api_token": token, "users": list(its_users)}
        if rate_limit:
            account["rate_limit"] = rate_limit
        accounts[sid] = account
    path.write_text(yaml.safe_dump({"accounts": accounts}))
    return path


def roster_yaml(
    base_url: str,
    agents: Mapping[str, tuple[str | None, Mapping[str, str]]],
    shifts: Sequence[Mapping[str, Any]],
    rate_limit: str = "100/s",
) -> str:
    """A roster for account ``main`` (sid acme_corp) at ``base_url``, zone UTC."""
    lines = [
        "version: 1",
        "timezone: UTC",
        "accounts:",
        f"  main: {{sid: acme_corp, base_url: '{base_url}', rate_limit: '{rate_limit}'}}",
        "agents:",
    ]
    for name, (uid, devices) in agents.items():
        uid_part = f"user_id: '{uid}', " if uid else ""
        lines.append(f"  {name}: {{account: main, {uid_part}devices: {json.dumps(devices)}}}")
    lines.append("shifts:")
    lines.extend(f"  - {json.dumps(s)}" for s in shifts)
    return "\n".join(lines) + "\n"


def spawn_worker(
    env: Mapping[str, str],
    log: Path,
    concurrency: int,
    hostname: str,
    *,
    celery: bool = False,
) -> subprocess.Popen[bytes]:
    """``shiftswitch worker`` in a session of its own (so that one signal ends it whole), once
    it says it is ready; with ``celery``, ``celery -A worker worker`` with the app's own
    defaults instead."""
    argv = (
        ["celery", "-A", "worker", "worker", "--loglevel=info"]
        if celery
        else ["shiftswitch", "worker", f"--concurrency={concurrency}"]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv, f"--hostname={hostname}"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until(
        lambda: "ready." in log.read_text(errors="replace") or proc.poll() is not None,
        30,
        f"worker {hostname} ready",
    )
    assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
    return proc


def spawn_scheduler(
    env: Mapping[str, str], log: Path, *args: str, wait: bool = True
) -> subprocess.Popen[bytes]:
    """``shiftswitch scheduler ARGS`` on the real clock, in a session of its own (once it says
    it is starting, with ``wait``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftswitch", "scheduler", *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if wait:
        wait_until(
            lambda: (
                "scheduler starting" in log.read_text(errors="replace") or proc.poll() is not None
            ),
            30,
            "scheduler starting",
        )
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_api(env: Mapping[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``shiftswitch api`` on a free loopback port, once it answers: (process, base URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftswitch", "api", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return requests.get(f"{url}/api/openapi.json", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(answers, 30, "shiftswitch api answering")
    assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
    return proc, url


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=20)


def worker_settings(env: Mapping[str, str]) -> dict[str, str]:
    """What a worker reads from its environment (the roster file's path aside: it never reads
    the file)."""
    return {
        k: v
        for k, v in env.items()
        if k in ("DATABASE_URL", "REDIS_URL") or k.startswith(("SHIFTSWITCH_", "EXOTEL_"))
        if k != "SHIFTSWITCH_ROSTER"
    }


class SharedWorker:
    """One worker process that serves test after test: a worker's start costs a test about
    two seconds, one and a half of them CPU.

    It works on one PostgreSQL database (put back before each test, see ``postgres_url``) and
    one Redis database of its own, with the pipelines' credentials and settings. A pipeline
    that takes it (``pipeline(..., shared=...)``) starts by removing what an earlier test left
    in Redis (locks, request budgets; not kombu's bindings) and ends by waiting until the
    worker has run every message sent (none queued or held): each test finds it idle. A test
    that fails takes it down; the next starts another. Tests that stop, kill or configure a
    worker start their own.
    """

    def __init__(self, tmp: Path, database_url: str, redis: str) -> None:
        self.log = tmp / "shared-worker.log"
        self.env = {
            **os.environ,
            **FAST_ENV,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis,
            "EXOTEL_MAIN_API_KEY": API_KEY,
            "EXOTEL_MAIN_API_TOKEN": API_TOKEN,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = spawn_worker(self.env, self.log, concurrency=8, hostname="shared@test")

    def tidy(self) -> None:
        """Remove what tests leave in Redis (locks, request budgets), not kombu's bindings,
        which the worker declared once at its start."""
        redis = Redis.from_url(self.redis_url)
        try:
            for key in redis.scan_iter():
                if not key.startswith(b"_kombu.binding."):
                    redis.delete(key)
        finally:
            redis.close()

    def close(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None


@dataclass
class Pipeline:
    """One test's sandbox, database, Redis database, workers and scheduler."""

    tmp: Path
    database_url: str
    redis_url: str
    sandbox: Sandbox
    env: dict[str, str]
    clock: FixedClock
    store: ActionStore
    roster_path: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    scheduler: Scheduler | None = None
    shared: SharedWorker | None = None  # the worker start_worker() gives, when there is one

    # -- sandbox --------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: object = None) -> Any:
        reply = requests.request(
            method, f"{self.sandbox.url}/_sandbox/{path}", json=body, timeout=5
        )
        reply.raise_for_status()
        return reply.json()

    def sandbox_log(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "log")["requests"])

    def puts(self) -> list[dict[str, Any]]:
        return [r for r in self.sandbox_log() if r["method"] == "PUT"]

    def device(self, user_id: str, device_id: str) -> dict[str, Any]:
        for u in self.control("GET", "state")["accounts"]["acme_corp"]["users"]:
            if u["id"] == user_id:
                for d in u["devices"]:
                    if str(d["id"]) == device_id:
                        return dict(d)
        raise KeyError((user_id, device_id))

    # -- processes ------------------------------------------------------------------------------

    def start_worker(
        self,
        concurrency: int = 8,
        extra_env: Mapping[str, str] | None = None,
        *,
        celery: bool = False,
        hostname: str | None = None,
    ) -> None:
        """A worker on this pipeline: a process of its own (named ``hostname``, by default
        ``wN@test``), or the shared one (which serves only a test that wants one worker as it
        is)."""
        if self.shared is not None:
            assert not (self.workers or extra_env or celery or hostname) and concurrency == 8, (
                "a worker of its own"
            )
            ours, its = worker_settings(self.env), worker_settings(self.shared.env)
            assert ours == its, f"the shared worker has {its}, not {ours}: start one of its own"
            self.shared.ensure_running()
            return
        n = len(self.workers)
        log = self.tmp / f"worker{n}.log"
        env = {**self.env, **(extra_env or {})}
        name = hostname or f"w{n}@test"
        self.workers.append(spawn_worker(env, log, concurrency, name, celery=celery))
        self.logs.append(log)

    def start_scheduler_process(self, *args: str, wait: bool = True) -> subprocess.Popen[bytes]:
        """A ``shiftswitch scheduler`` process on the real clock (stopped with the workers)."""
        log = self.tmp / f"scheduler{len(self.schedulers)}.log"
        proc = spawn_scheduler(self.env, log, *args, wait=wait)
        self.schedulers.append(proc)
        self.logs.append(log)
        return proc

    def kill_worker(self, index: int = 0, sig: int = signal.SIGKILL) -> None:
        kill(self.workers[index], sig)

    def stop_workers(self, sig: int = signal.SIGKILL) -> None:
        """Stop every worker: killed, at once (a warm shutdown takes seconds; the demo's test
        sees workers stopped by a signal)."""
        assert self.shared is None, "the shared worker serves other tests: start one of its own"
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
        for proc in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def drain(self, timeout: float = 30) -> None:
        """Wait until the workers hold no task and keep no user, and no task waits in Redis:
        every message sent so far (a retry a worker keeps until its time included) has been
        run to its end. Then what was not done will not be done by what was sent."""
        redis = Redis.from_url(self.redis_url)

        def empty() -> bool:
            return (
                redis.llen(broker.QUEUE) == 0
                and redis.hlen(broker.UNACKED_KEY) == 0
                and not read_beats(redis).owners
            )

        def idle() -> bool:
            # Empty twice, apart: kombu moves a message from the queue to its unacknowledged
            # ones in two steps, and in between it is in neither. A user a worker keeps is in
            # its heartbeat before the message that brought it is acknowledged.
            if not empty():
                return False
            time.sleep(0.2)
            return empty()

        try:
            wait_until(idle, timeout, "the workers idle, no message left in Redis")
        finally:
            redis.close()

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs)

    def cli(self, *args: str, on_test_clock: bool = False) -> Ran:
        """``shiftswitch ARGS`` with this pipeline's environment, at the real time (as a user
        runs it beside the workers) or ``on_test_clock`` (the scheduler's time)."""
        return shiftswitch(*args, env=self.env, clock=self.clock if on_test_clock else None)

    # -- scheduler on the test clock ------------------------------------------------------------

    def import_roster(self, text: str | None = None, by: str = "tests") -> int:
        """Store ``text`` (default: the roster file) as the roster in the database."""
        body = self.roster_path.read_text() if text is None else text
        written = RosterStore(self.store.engine).write(
            lambda _before: body, source="tests", by=by, now=self.clock.now()
        )
        return written.number

    def start_scheduler(self, at: datetime, source: str = "yaml") -> Scheduler:
        self.clock.set(at)
        settings = Settings.from_env(self.env)
        roster: RosterSource = (
            RosterTables(RosterStore(self.store.engine))
            if source == "db"
            else RosterFile(str(self.roster_path))
        )
        self.scheduler = Scheduler(
            roster,
            self.store,
            CeleryDispatcher(make_celery(settings)),
        )
        self.scheduler.start(at)
        return self.scheduler

    def tick_at(self, at: datetime) -> None:
        """Move the clock to ``at`` a STEP at a time, ticking, as a running scheduler would."""
        assert self.scheduler is not None
        while self.clock.now() + STEP < at:
            self.clock.advance(STEP)
            self.scheduler.tick(self.clock.now())
        self.clock.set(at)
        self.scheduler.tick(at)

    # -- results --------------------------------------------------------------------------------

    def actions(self) -> list[Action]:
        with self.store.sessions() as session:
            return list(session.scalars(select(Action).order_by(Action.id)))

    def attempts(self) -> list[Attempt]:
        with self.store.sessions() as session:
            return list(session.scalars(select(Attempt).order_by(Attempt.id)))

    def settle(self, timeout: float = 60) -> list[Action]:
        """Wait until every recorded action is final; return them."""
        wait_until(
            lambda: all(a.status in FINAL_STATUSES for a in self.actions()),
            timeout,
            "every action final",
            detail=lambda: [(a.id, a.key, a.status, a.reason) for a in self.actions()],
        )
        return self.actions()


def assign_all_from(
    roster_path: Path, agents: Mapping[str, object], ahead: float, hours: float = 1
) -> datetime:
    """Give every agent a dated shift from ``ahead`` seconds from now (to the second), for
    ``hours``, in the roster file (a running scheduler picks it up); the shift's start."""
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ahead)
    end = at + timedelta(hours=hours)
    roster_path.write_text(roster_path.read_text() + "assignments:\n" + "".join(
        f'  - {{agent: {a}, from: "{at:%Y-%m-%dT%H:%M:%S}", '
        f'to: "{end:%Y-%m-%dT%H:%M:%S}", shift: evening}}\n'
        for a in agents
    ))  # fmt: skip
    return at


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    detail: Callable[[], object] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f": {detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(0.05)


_redis_db = itertools.cycle(PIPELINE_REDIS_DBS)  # this process's; each pipeline flushes its own


@contextmanager
def pipeline(
    tmp: Path,
    database_url: str,
    users: Sequence[Mapping[str, Any]],
    roster: Callable[[str], str],
    *,
    sandbox_rate_limit: str | None = None,
    latency_ms: float = 0.0,
    env: Mapping[str, str] | None = None,
    shared: SharedWorker | None = None,
    more_accounts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Iterator[Pipeline]:
    """A running sandbox and the rest of one test's world (``database_url``: migrated, as the
    database fixtures give it); workers started by the test: their own processes, or the
    ``shared`` one (then ``database_url`` must be its database). ``more_accounts``: sandbox
    accounts (sid: users) beside ``acme_corp``, with its credentials and rate limit."""
    if shared is not None:
        assert database_url == shared.database_url, "the shared worker works on its database"
        redis = shared.redis_url
        shared.tidy()
    else:
        redis = redis_url(next(_redis_db))
        Redis.from_url(redis).flushdb()
    sandbox = Sandbox(
        load_seed(str(seed_file(tmp / "seed.yaml", users, sandbox_rate_limit, more_accounts))),
        port=0,
        latency_ms=latency_ms,
    )
    sandbox.start()
    roster_path = tmp / "schedules.yaml"
    roster_path.write_text(roster(sandbox.url))
    full_env = {
        **os.environ,
        **FAST_ENV,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis,
        "SHIFTSWITCH_ROSTER": str(roster_path),
        "EXOTEL_MAIN_API_KEY": API_KEY,
        "EXOTEL_MAIN_API_TOKEN": API_TOKEN,
        **(env or {}),
    }
    engine = make_engine(database_url)
    p = Pipeline(
        tmp=tmp,
        database_url=database_url,
        redis_url=redis,
        sandbox=sandbox,
        env=full_env,
        clock=FixedClock(at("00:00:00")),
        store=ActionStore(engine),
        roster_path=roster_path,
        shared=shared,
    )
    try:
        yield p
        if shared is not None and shared.proc is not None:
            p.drain()  # nothing of this test's left for the next one
    except BaseException:
        if shared is not None:
            shared.close()  # whatever it was doing: the next test starts one afresh
        raise
    finally:
        for proc in p.schedulers + p.workers:
            kill(proc)  # nothing to wait for: the test is over
        sandbox.stop()
        engine.dispose()
        if shared is None:
            Redis.from_url(redis).flushdb()


def at(hms: str) -> datetime:
    """``HH:MM:SS`` on the pipelines' Monday, UTC."""
    return datetime.combine(MONDAY, time_of_day.fromisoformat(hms), UTC)


# The handoff: asha's desk and ravi's in the morning, asha's mobile in the afternoon.
ASHA = user("u-100", ("100280", "Desk", "+919953125001"), ("100290", "Mobile", "+919953125068"))
RAVI = user("u-101", ("100281", "Desk", "+919953125002"))
HANDOFF_AGENTS = {
    "asha": ("u-100", {"desk": "100280", "mobile": "+919953125068"}),
    "ravi": ("u-101", {"desk": "100281"}),
}
HANDOFF_SHIFTS = [
    {"name": "desk-am", "start": "0 9 * * *", "duration": "4h", "members": ["asha:desk", "ravi"]},
    {"name": "mobile-pm", "start": "0 13 * * *", "duration": "4h", "members": ["asha:mobile"]},
]


def handoff(
    tmp: Path, database_url: str, shared: SharedWorker | None = None
) -> AbstractContextManager[Pipeline]:
    """The handoff's pipeline: its users in the sandbox, its roster in the file."""
    return pipeline(
        tmp,
        database_url,
        [ASHA, RAVI],
        lambda url: roster_yaml(url, HANDOFF_AGENTS, HANDOFF_SHIFTS),
        shared=shared,
    )
