"""The scheduler process's memory with a large roster: what a user's ``shiftswitch scheduler``
holds, read from outside.

Writes the benchmark roster of ``--agents`` agents (``gen_roster.generate``: 200 shifts, three
zones, two accounts) with its accounts' ``base_url`` at a closed loopback port, migrates a fresh
SQLite database, and starts a real ``shiftswitch scheduler`` process on them (its own Redis
database). For ``--seconds`` it reads the process's resident memory (``VmRSS`` and its high
water mark ``VmHWM`` of ``/proc/PID/status``) every 200 ms. Within them the scheduler loads,
validates and plans the roster, takes the lead, and tries to read every device's state before
its first switch (Exotel is unreachable here, so it retries; nothing is sent).

Reported: the seconds until the roster was in force (its ``roster`` log line), the peak RSS,
and the RSS at the end. ``--checkout DIR`` runs the scheduler from another checkout of the
repository (``git worktree add DIR COMMIT``), to compare with an earlier version.

    python benchmarks/bench_scheduler_memory.py [--agents 100000] [--seconds 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_roster import generate

BASE_URL = "http://127.0.0.1:9"  # the discard port: every read is refused at once
ACCOUNTS = ("INDIA", "GLOBAL")  # the benchmark roster's


def _status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid``, in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(rest.split()[0])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()

    redis = Redis.from_url(args.redis_url)
    redis.flushdb()
    with tempfile.TemporaryDirectory(prefix="bench_sched_mem_") as tmp:
        roster = Path(tmp) / "schedules.yaml"
        text = generate(args.agents, 1)
        for region in ("region: mumbai", "region: singapore"):
            text = text.replace(region, f"base_url: '{BASE_URL}'")
        roster.write_text(text)
        env = {
            **os.environ,
            "PYTHONPATH": str(args.checkout),
            "DATABASE_URL": f"sqlite:///{tmp}/shiftswitch.db",
            "REDIS_URL": args.redis_url,
            "SHIFTSWITCH_ROSTER": str(roster),
            "SHIFTSWITCH_ALLOWED_BASE_URLS": "http://127.0.0.1",
            **{f"EXOTEL_{a}_API_{k}": "bench" for a in ACCOUNTS for k in ("KEY", "TOKEN")},
        }
        python = [sys.executable, "-m", "shiftswitch"]
        subprocess.run(  # noqa: S603 - our own interpreter and command
            [*python, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=args.checkout
        )
        log = Path(tmp) / "scheduler.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and command
                [*python, "scheduler"], env=env, stdout=out, stderr=subprocess.STDOUT,
                cwd=args.checkout,
            )  # fmt: skip
        start = time.monotonic()
        in_force: float | None = None
        last: dict[str, int] = {}
        try:
            while time.monotonic() - start < args.seconds and proc.poll() is None:
                last = _status(proc.pid)
                if in_force is None and " INFO shiftswitch.scheduler roster " in log.read_text():
                    in_force = time.monotonic() - start
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(30)
            redis.flushdb()
        if in_force is None:
            print(log.read_text()[-2000:], file=sys.stderr)
            return 1
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"{args.agents:,} agents: roster in force after {in_force:.1f} s; "
        f"peak RSS {last['VmHWM'] / 1024:.0f} MiB, RSS after {args.seconds:g} s "
        f"{last['VmRSS'] / 1024:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
