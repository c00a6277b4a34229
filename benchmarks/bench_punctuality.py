"""Punctuality benchmark: how soon after a boundary's instant its first switch goes out, beside
Celery beat sending a due task on the same machine in the same run.

What runs (all real processes on the system clock):

- the sandbox (``--latency-ms``, 5), one worker (``--concurrency``, 32) and a real
  ``shiftswitch scheduler`` on a fresh SQLite file and Redis database ``--redis-db`` (13);
- ``celery beat`` on Redis database ``--beat-db`` (12), with two entries sending a task nobody
  consumes: ``crontab()`` (every minute) and one due at every multiple of ``--beat-every``
  seconds of the wall clock (3 s; a schedule written like ``crontab``'s, in seconds);
- a Redis ``MONITOR`` in this process, which stamps when each task message reaches Redis (the
  server's clock: ``LPUSH`` to the task queue), for both.

The roster: ``--boundaries`` (24) overrides, one agent each (``--per-boundary`` agents), the
first starting 25 s after the roster is written and the next every ``--every`` (3) seconds, on
whole seconds, each lasting half of that (rounded up): every override is two boundaries, ON at
``from`` and OFF at ``to``. With ``--big N``, a shift of N more agents starts at the next whole
minute (``cron``): a boundary of N switches at once, to see what recording thousands costs the
first.
Every device is confirmed OFF beforehand, so nothing else is sent.

Measured per boundary: the scheduler's wake (the ``tick`` log line's ``at``), the first task
message in Redis, and the first PUT's ``started`` at the sandbox, each minus the instant; for
beat, the task message in Redis minus its due instant. Also the scheduler's CPU per second
while idle (from /proc, over the seconds before the first boundary, after start-up).

    python benchmarks/bench_punctuality.py                 # 48 boundaries in 72 s
    python benchmarks/bench_punctuality.py --big 2000      # and a boundary of 2,000 at a minute

Every process started here is stopped on the way out, also on Ctrl-C and on errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from redis import Redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import percentile
from one_account import (
    ACCOUNT,
    API_KEY,
    API_TOKEN,
    SID,
    UNLIMITED,
    confirm_all_off,
    device_id,
    write_seed,
)
from processes import Processes, start_sandbox, start_workers, wait_for

from shiftswitch.broker import QUEUE
from shiftswitch.db import upgrade

BEAT_APP = '''
"""Celery beat for the punctuality benchmark: two entries sending a task nobody consumes."""
import time
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab, schedstate, schedule

app = Celery("anchor", broker={broker!r})
app.conf.enable_utc = True


class aligned(schedule):
    """Due at every multiple of ``step`` seconds of the wall clock (crontab, in seconds)."""

    def __init__(self, step, app=None):
        super().__init__(timedelta(seconds=step), app=app)
        self.step = step

    def __reduce__(self):
        return self.__class__, (self.step,)

    def is_due(self, last_run_at):
        now = time.time()
        due = (last_run_at.timestamp() // self.step + 1) * self.step
        if now >= due:
            return schedstate(True, (now // self.step + 1) * self.step - now)
        return schedstate(False, due - now)


app.conf.beat_schedule = {{
    "minute": {{"task": "anchor.minute", "schedule": crontab()}},
    "aligned": {{"task": "anchor.aligned", "schedule": aligned({step})}},
}}
'''


@dataclass
class Boundary:
    at: float  # the instant, seconds since the epoch
    devices: set[str]
    on: bool
    wake: float | None = None
    message: float | None = None
    first_put: float | None = None


@dataclass
class Monitor:
    """LPUSHes, stamped by Redis: (time, db, key, the beat entry's task name or "")."""

    url: str
    pushes: list[tuple[float, int, str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = Redis.from_url(self.url)
        with client.monitor() as m:
            for cmd in m.listen():
                if self.stop.is_set():
                    return
                words = cmd["command"].split(" ", 2)
                if words[0].upper() == "LPUSH" and len(words) > 1:
                    rest = words[2] if len(words) > 2 else ""
                    task = next((t for t in ("anchor.minute", "anchor.aligned") if t in rest), "")
                    self.pushes.append((float(cmd["time"]), int(cmd["db"]), words[1], task))


def write_roster(
    path: Path,
    base_url: str,
    boundaries: list[tuple[float, float, list[int]]],
    big: list[int],
    big_at: datetime,
) -> None:
    n = sum(len(b[2]) for b in boundaries) + len(big)
    lines = [
        "version: 1",
        "timezone: UTC",
        "accounts:",
        f"  {ACCOUNT}: {{sid: {SID}, base_url: '{base_url}', rate_limit: '{UNLIMITED}'}}",
        "agents:",
    ]
    lines += [
        f"  a{i}: {{account: {ACCOUNT}, user_id: 'u-{i}', devices: {{desk: '{device_id(i)}'}}}}"
        for i in range(n)
    ]
    if big:
        lines += [
            "shifts:",
            "  - name: big",
            f"    start: '{big_at.minute} {big_at.hour} * * *'",
            "    duration: 1m",
            "    members: [" + ", ".join(f"a{i}" for i in big) + "]",
        ]
    else:
        lines.append("shifts: []")
    lines.append("overrides:")
    for start, end, agents in boundaries:
        for i in agents:
            f = datetime.fromtimestamp(start, UTC).isoformat()
            t = datetime.fromtimestamp(end, UTC).isoformat()
            lines.append(f"  - {{agent: a{i}, device: desk, from: '{f}', to: '{t}'}}")
    path.write_text("\n".join(lines) + "\n")


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 0.5), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else math.nan,
        "min_ms": round(min(ms), 1) if ms else math.nan,
    }


def start_beat(procs: Processes, env: dict[str, str], tmp: Path) -> None:
    """``celery beat`` with the app in ``tmp/beatconf.py``, among ``procs`` (stopped with them)."""
    argv = ["-m", "celery", "-A", "beatconf", "beat", "-s", str(tmp / "beat-schedule")]
    with (tmp / "beat.log").open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter, Celery's module
            [sys.executable, *argv, "--loglevel", "info"],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    procs.procs.append(("beat", proc))


def world(
    procs: Processes, args: argparse.Namespace, tmp: Path, n: int
) -> tuple[str, dict[str, str]]:
    """Sandbox, database (every device confirmed OFF), worker and celery beat; the sandbox's URL
    and the environment of the processes."""
    base = args.redis_url.rstrip("/")
    redis_url, beat_url = f"{base}/{args.redis_db}", f"{base}/{args.beat_db}"
    for url in (redis_url, beat_url):
        Redis.from_url(url).flushdb()
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    write_seed(tmp / "seed.yaml", n, None)
    sandbox = start_sandbox(procs, tmp, tmp / "seed.yaml", args.latency_ms)
    upgrade(db_url)
    confirm_all_off(db_url, n)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SHIFTSWITCH_DRIFT_EVERY": "0",
        f"EXOTEL_{ACCOUNT.upper()}_API_KEY": API_KEY,
        f"EXOTEL_{ACCOUNT.upper()}_API_TOKEN": API_TOKEN,
    }
    workers = argparse.Namespace(workers=1, concurrency=args.concurrency, loglevel="warning")
    start_workers(procs, workers, env, tmp)
    (tmp / "beatconf.py").write_text(BEAT_APP.format(broker=beat_url, step=args.beat_every))
    start_beat(procs, env, tmp)
    return sandbox, env


def boundaries_ahead(args: argparse.Namespace, path: Path, sandbox: str, n: int) -> list[Boundary]:
    """Write the roster: its boundaries start ``--lead`` seconds from now."""
    k, nb = args.per_boundary, args.boundaries
    first = math.ceil(time.time()) + args.lead
    plan = [
        (first + i * args.every, first + i * args.every + math.ceil(args.every / 2),
         list(range(i * k, (i + 1) * k)))
        for i in range(nb)
    ]  # fmt: skip
    big = list(range(k * nb, n))
    big_at = datetime.fromtimestamp(first, UTC).replace(second=0) + timedelta(minutes=1)
    write_roster(path, sandbox, plan, big, big_at)
    boundaries = [Boundary(s, {device_id(i) for i in a}, True) for s, _, a in plan]
    boundaries += [Boundary(e, {device_id(i) for i in a}, False) for _, e, a in plan]
    if big:
        boundaries.append(Boundary(big_at.timestamp(), {device_id(i) for i in big}, True))
    return sorted(boundaries, key=lambda b: b.at)


def run(args: argparse.Namespace) -> dict[str, Any]:
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="bench_punctuality_"))
    n = args.per_boundary * args.boundaries + args.big
    with ExitStack() as stack:
        if args.keep:
            print(f"keeping {tmp}", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        stack.callback(procs.stop)
        sandbox, env = world(procs, args, tmp, n)
        monitor = Monitor(args.redis_url.rstrip("/"))
        threading.Thread(target=monitor.run, daemon=True).start()
        roster = tmp / "schedules.yaml"
        boundaries = boundaries_ahead(args, roster, sandbox, n)
        first, last = boundaries[0].at, boundaries[-1].at

        control = requests.Session()
        control.delete(f"{sandbox}/_sandbox/log", timeout=10).raise_for_status()
        log = tmp / "scheduler.log"
        procs.start("scheduler", ["scheduler", "--roster", str(roster), "--loglevel", "info"],
                    env, log)  # fmt: skip
        pid = procs.procs[-1][1].pid
        wait_for(lambda: " leading " in log.read_text(), 60, "the scheduler to lead", procs)
        time.sleep(3)  # the start-up's work done: measure it idle
        if first - 2 - time.time() < 5:
            raise RuntimeError(f"setup took too long: raise --lead (now {args.lead} s)")
        idle0, c0 = time.monotonic(), cpu_of(pid)
        time.sleep(first - 2 - time.time())
        idle_cpu = (cpu_of(pid) - c0) / (time.monotonic() - idle0)
        print(f"{len(boundaries)} boundaries, the last {last - time.time():.0f} s from now; "
              f"idle scheduler CPU {idle_cpu * 1000:.1f} ms/s", file=sys.stderr)  # fmt: skip

        def puts() -> list[dict[str, Any]]:
            entries = control.get(f"{sandbox}/_sandbox/log", timeout=30).json()["requests"]
            return [e for e in entries if e["method"] == "PUT"]

        switches = sum(len(b.devices) for b in boundaries)
        wait_for(lambda: time.time() > last + 1 and len(puts()) >= switches,
                 last - time.time() + 120, "every switch", procs)  # fmt: skip
        # Until a crontab minute has passed after the last boundary (and a little more).
        time.sleep(max(0.0, math.ceil(time.time() / 60) * 60 + 1.5 - time.time()))
        monitor.stop.set()
        Redis.from_url(env["REDIS_URL"]).lpush("bench:poke", "1")  # the monitor sees it, stops
        ticks = [
            datetime.fromisoformat(m.group(1)).timestamp()
            for m in re.finditer(r" tick due=\d+ enqueued=\d+ at=(\S+)", log.read_text())
        ]
        return reduce(boundaries, puts(), monitor, ticks, idle_cpu, args)


def reduce(
    boundaries: list[Boundary],
    puts: list[dict[str, Any]],
    monitor: Monitor,
    ticks: list[float],
    idle_cpu: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Per boundary: the first tick, message and PUT at or after its instant, before the next."""
    ours = sorted(t for t, db, key, _ in monitor.pushes if db == args.redis_db and key == QUEUE)
    by_device: dict[tuple[str, bool], list[float]] = {}  # (device, ON?): when PUTs started
    for e in puts:
        on = bool((e.get("body") or {}).get("available"))
        by_device.setdefault((str(e["device_id"]), on), []).append(float(e["started"]))
    for i, b in enumerate(boundaries):
        until = boundaries[i + 1].at if i + 1 < len(boundaries) else math.inf
        b.wake = next((t for t in ticks if b.at <= t < until), None)
        b.message = next((t for t in ours if b.at <= t < until), None)
        starts = [t for d in b.devices for t in by_device.get((d, b.on), []) if b.at <= t < until]
        b.first_put = min(starts, default=None)
    missing = [b for b in boundaries if None in (b.message, b.first_put)]
    if missing:
        raise RuntimeError(f"{len(missing)} boundaries without a message or a PUT, the first at "
                           f"{datetime.fromtimestamp(missing[0].at, UTC):%H:%M:%S}")  # fmt: skip
    small = [b for b in boundaries if len(b.devices) == args.per_boundary]
    big = [b for b in boundaries if len(b.devices) != args.per_boundary]

    def late(bs: list[Boundary], what: str) -> dict[str, float]:
        return summary([getattr(b, what) - b.at for b in bs if getattr(b, what) is not None])

    beat = {"anchor.minute": [], "anchor.aligned": []}  # lateness after the due instant
    for t, db, _key, task in monitor.pushes:
        if db == args.beat_db and task:
            step = 60 if task == "anchor.minute" else args.beat_every
            beat[task].append(t - t // step * step)
    out: dict[str, Any] = {
        "boundaries": len(small),
        "wake": late(small, "wake"),
        "message": late(small, "message"),
        "first_put": late(small, "first_put"),
        "beat_aligned": summary(beat["anchor.aligned"]),
        "beat_minute": summary(beat["anchor.minute"]),
        "idle_cpu_ms_per_s": round(idle_cpu * 1000, 2),
        "each_ms": [  # instant (s in its minute), then wake, message, first PUT after it
            [round(b.at % 60, 1)]
            + [round((t - b.at) * 1000, 1) if t else None for t in (b.wake, b.message, b.first_put)]
            for b in boundaries
        ],
    }
    if big:
        out["big"] = {
            "devices": len(big[0].devices),
            "wake_ms": round(((big[0].wake or math.nan) - big[0].at) * 1000, 1),
            "message_ms": round(((big[0].message or math.nan) - big[0].at) * 1000, 1),
            "first_put_ms": round(((big[0].first_put or math.nan) - big[0].at) * 1000, 1),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boundaries", type=int, default=24, help="overrides (two boundaries each)")
    p.add_argument("--per-boundary", type=int, default=1, help="agents switched at each")
    p.add_argument("--every", type=int, default=3, help="seconds between overrides")
    p.add_argument("--big", type=int, default=0, help="agents of a shift at the next minute")
    p.add_argument("--lead", type=int, default=25, help="seconds from setup to the first")
    p.add_argument("--beat-every", type=int, default=3, help="beat's aligned entry, seconds")
    p.add_argument("--latency-ms", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    p.add_argument("--redis-db", type=int, default=13)
    p.add_argument("--beat-db", type=int, default=12)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return
    each = out.pop("each_ms")
    print(json.dumps(out, indent=2))
    print("each boundary (s in its minute: wake, message, first PUT in ms after it):")
    print("\n".join(f"  {e[0]:4}: {e[1:]}" for e in each))


if __name__ == "__main__":
    main()
