"""``shiftswitch demo``: the whole system on one machine, against the sandbox, shifts flipping
every minute, each switch printed as it happens.

What runs: the sandbox (in this process, seeded with a small call centre), one worker process
(``python -m shiftswitch worker``), and the scheduler (in this process, on the real clock), on a
SQLite file and a Redis database of their own, all under one directory (``.demo`` by default,
emptied at start, kept afterwards to look at). Ctrl-C (or ``--duration``) stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from scheduler.loop import Scheduler
from shiftswitch import hosts
from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.clock import SystemClock
from shiftswitch.db import make_engine, upgrade
from shiftswitch.models import FINAL_STATUSES, Action
from shiftswitch.settings import Settings
from shiftswitch.sources.source import RosterFile

if TYPE_CHECKING:
    from shiftswitch.sandbox.server import Sandbox

DEMO_REDIS_URL = "redis://127.0.0.1:6379/9"
API_KEY, API_TOKEN = "demo-key", "demo-token"  # the sandbox's own: demo values
SANDBOX_HOST = "http://127.0.0.1"  # the sandbox's, on any port

SEED = f"""\
accounts:
  demo_call_centre:
    api_key: {API_KEY}
    api_token: {API_TOKEN}
    users:
      - id: u-100
        first_name: Asha
        devices:
          - {{id: 100280, name: Desk, contact_uri: "+919953125001", type: tel, verified: true}}
          - {{id: 100290, name: Mobile, contact_uri: "+919953125068", type: tel, verified: true}}
      - id: u-101
        first_name: Ravi
        devices:
          - {{id: 100281, name: Desk, contact_uri: "+919953125002", type: tel, verified: true}}
      - id: u-102
        first_name: Meera
        devices:
          - {{id: 100282, name: Softphone, contact_uri: "sip:meera.k", type: sip, verified: true}}
"""

ROSTER = """\
# The demo roster: two one-minute shifts taking turns, so something switches every minute.
version: 1
timezone: UTC
accounts:
  demo:
    sid: demo_call_centre
    base_url: {base_url}
    rate_limit: 120/min
agents:
  asha:
    account: demo
    user_id: "u-100"
    devices:
      desk: 100280
      mobile: "+919953125068"   # a contact URI: looked up once, then cached
  ravi:
    account: demo
    user_id: "u-101"
    devices:
      desk: 100281
  meera:
    account: demo
    devices:
      softphone: "sip:meera.k"
shifts:
  - name: even-minutes
    start: "*/2 * * * *"
    duration: 1m
    members: ["asha:desk", "ravi"]
  - name: odd-minutes           # asha hands over from desk to mobile, and back, every minute
    start: "1-59/2 * * * *"
    duration: 1m
    members: ["asha:mobile", "meera"]
"""


@dataclass
class Demo:
    """Where the demo keeps its files, and how it reaches Redis."""

    directory: Path
    redis_url: str = DEMO_REDIS_URL
    port: int = 8090

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.directory / 'shiftswitch.db'}"

    def env(self) -> dict[str, str]:
        allowed = os.environ.get(hosts.VARIABLE, "")
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SHIFTSWITCH_ROSTER": str(self.directory / "schedules.yaml"),
            "EXOTEL_DEMO_API_KEY": API_KEY,
            "EXOTEL_DEMO_API_TOKEN": API_TOKEN,
            # The sandbox, on this machine, is where the demo's credentials go.
            hosts.VARIABLE: f"{allowed},{SANDBOX_HOST}" if allowed.strip() else SANDBOX_HOST,
        }


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


def run(demo: Demo, out: IO[str], stop: threading.Event, duration: float | None = None) -> int:
    """Run the demo until ``stop`` is set (or ``duration`` seconds pass); the switches made."""
    redis = Redis.from_url(demo.redis_url, socket_connect_timeout=2)
    try:
        redis.ping()
    except RedisError as exc:
        raise DemoError(
            f"Redis at {demo.redis_url} is not reachable ({exc}): start it "
            "(redis-server, or 'bash scripts/demo', which starts it) or pass --redis-url"
        ) from None
    _fresh_directory(demo.directory)
    redis.flushdb()  # the demo's own database: no messages left from an earlier run
    settings = Settings.from_env(demo.env())
    with ExitStack() as stack:
        sandbox = _sandbox(demo, stack)
        (demo.directory / "schedules.yaml").write_text(ROSTER.format(base_url=sandbox.url))
        upgrade(demo.database_url)
        engine = make_engine(demo.database_url)
        stack.callback(engine.dispose)
        store = ActionStore(engine)
        say = _printer(out)
        say(f"sandbox   {sandbox.url} (users and devices: {demo.directory / 'sandbox.yaml'})")
        say(f"roster    {demo.directory / 'schedules.yaml'}: shifts flip every minute")
        say(f"database  {demo.database_url}; Redis {demo.redis_url}")
        _start_worker(demo, stack, say)
        scheduler = Scheduler(
            RosterFile(
                str(demo.directory / "schedules.yaml"), hosts.AllowedHosts.from_env(demo.env())
            ),
            store,
            CeleryDispatcher(make_celery(settings)),
            reconcile_every=timedelta(minutes=5),
            requeue_after=timedelta(seconds=settings.visibility_timeout + 60),
        )
        stopping = threading.Event()
        thread = threading.Thread(
            target=scheduler.run, args=(SystemClock(), stopping), name="scheduler", daemon=True
        )
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(stopping.set)
        say("scheduler started: devices are set to the roster's state now, then at each minute")
        say("Ctrl-C stops the demo.\n")
        return _watch(store, out, stop, duration)


def _fresh_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    files = ("shiftswitch.db", "shiftswitch.db-wal", "shiftswitch.db-shm", "shiftswitch.db-writer")
    for name in (*files, "worker.log"):
        (directory / name).unlink(missing_ok=True)


def _sandbox(demo: Demo, stack: ExitStack) -> Sandbox:
    # The sandbox is a tool beside the product: imported only by the commands that run it.
    from shiftswitch.sandbox.seed import load_seed  # noqa: PLC0415
    from shiftswitch.sandbox.server import Sandbox  # noqa: PLC0415

    seed_path = demo.directory / "sandbox.yaml"
    seed_path.write_text(SEED)
    seed = load_seed(str(seed_path))
    for port in (demo.port, 0):  # the usual port, or any free one when it is taken
        sandbox = Sandbox(seed, port=port)
        try:
            sandbox.start()
        except OSError:
            continue
        stack.callback(sandbox.stop)
        return sandbox
    raise DemoError("cannot start the sandbox: no free port on 127.0.0.1")


def _start_worker(demo: Demo, stack: ExitStack, say: Callable[[str], None]) -> None:
    log_path = demo.directory / "worker.log"
    log = log_path.open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftswitch", "worker", "--concurrency", "8", "--loglevel", "info"],
        env=demo.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the demo only; it stops the worker itself
    )
    stack.callback(_stop_process, proc)
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DemoError(f"the worker did not start; its log: {log_path}")
        time.sleep(0.1)
    say(f"worker    pid {proc.pid}, 8 threads (log: {log_path})")


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish what is running
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _printer(out: IO[str]) -> Callable[[str], None]:
    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return say


def _watch(store: ActionStore, out: IO[str], stop: threading.Event, duration: float | None) -> int:
    """Print each action as it becomes final, grouped under its boundary; the count printed."""
    say = _printer(out)
    shown: set[int] = set()
    boundary = None
    ends = None if duration is None else time.monotonic() + duration
    while not stop.is_set() and (ends is None or time.monotonic() < ends):
        for action in _newly_final(store, shown):
            if action.due_at != boundary:
                boundary = action.due_at
                say(f"-- {boundary:%H:%M:%S} UTC ({action.source})")
            shown.add(action.id)
            say(_line(action))
        stop.wait(0.3)
    return len(shown)


def _newly_final(store: ActionStore, shown: set[int]) -> Iterator[Action]:
    with store.sessions() as session:
        rows = session.scalars(
            select(Action)
            .where(Action.status.in_(FINAL_STATUSES))
            .order_by(Action.due_at, Action.finished_at, Action.id)
        )
        yield from (a for a in rows if a.id not in shown)


def _line(action: Action) -> str:
    state = "ON " if action.wants_on else "OFF"
    took = ""
    if action.finished_at is not None:
        late = (action.finished_at - action.due_at).total_seconds()
        took = f", done {late:.1f} s after it was due"
    detail = f"HTTP {action.last_http_code}" if action.last_http_code else ""
    if action.reason:
        detail = f"{detail}: {action.reason}" if detail else action.reason
    return (
        f"   {action.agent or '-':<6} {action.device or '-':<10} {state} "
        f"{action.status:<10} ({detail or 'no request'}{took})"
    )


@contextmanager
def interrupt_sets(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of raising, for a clean stop."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
