"""The API server's memory under hostile but legal load: concurrent roster uploads and logins.

Starts a real ``shiftswitch api`` process (one uvicorn process, SQLite, its own Redis database)
with a viewer token and one user, and reads its resident memory (``VmRSS`` of
``/proc/PID/status``) every 20 ms while, from this process:

- ``--uploads`` (6) clients each ``POST /api/v1/roster/validate`` a roster of ``--agents``
  (40,000: about 5 MB, the largest upload the API takes is 8 MiB; or ``--roster FILE``) at
  once;
- ``--logins`` (40) clients each send a wrong password to ``POST /api/v1/login`` at once,
  each from an address of its own (127.0.0.2, 127.0.0.3, ...: the per-address throttle does
  not hold them back);
- then both at once; throughout, one client asks ``GET /api/v1/me`` every 100 ms.

Reported per scenario: the server's peak RSS and its RSS before, the answers by status, the
slowest answer, and the slowest ``/me``. ``--checkout DIR`` runs the server from another
checkout of the repository (``git worktree add DIR COMMIT``), to compare with an earlier
version.

    python benchmarks/bench_api_memory.py [--agents 40000] [--uploads 6] [--logins 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from requests.adapters import HTTPAdapter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_api import REDIS, api_env, api_server
from gen_roster import generate

from shiftswitch.access import AccessStore, Role
from shiftswitch.db import make_engine, upgrade

PASSWORD = "the-right-password-for-bench"  # noqa: S105 - the benchmark's own user


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The process's RSS every 20 ms, in a thread: the peak since the last :meth:`reset`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def reset(self) -> float:
        now = rss_mb(self.pid)
        self.peak = now
        return now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class FromAddress(HTTPAdapter):
    """Connections from a loopback address of their own (the server sees another client)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def upload(base: str, token: str, text: bytes) -> tuple[int, float]:
    started = time.monotonic()
    answer = requests.post(
        f"{base}/roster/validate",
        data=text,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"},
        timeout=300,
    )
    return answer.status_code, time.monotonic() - started


def login(base: str, n: int) -> tuple[int, float]:
    http = requests.Session()
    http.mount("http://", FromAddress(f"127.0.0.{2 + n}"))
    started = time.monotonic()
    answer = http.post(
        f"{base}/login", json={"name": "ops", "password": f"wrong-password-{n:04d}"}, timeout=300
    )
    return answer.status_code, time.monotonic() - started


def scenario(
    sampler: Sampler, base: str, token: str, calls: Sequence[Callable[[], tuple[int, float]]]
) -> dict[str, Any]:
    before = sampler.reset()
    me_worst = 0.0
    done = threading.Event()

    def probe() -> None:
        nonlocal me_worst
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        while not done.is_set():
            started = time.monotonic()
            http.get(f"{base}/me", timeout=300)
            me_worst = max(me_worst, time.monotonic() - started)
            time.sleep(0.1)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda call: call(), calls))
    done.set()
    prober.join()
    return {
        "rss_before_mb": round(before),
        "rss_peak_mb": round(sampler.peak),
        "answers": dict(Counter(str(status) for status, _ in answers)),
        "slowest_answer_s": round(max(took for _, took in answers), 1),
        "slowest_me_s": round(me_worst, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=40_000)
    parser.add_argument("--uploads", type=int, default=6)
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--roster", help="upload this roster file instead of a generated one")
    parser.add_argument("--checkout", help="run the server from this checkout")
    args = parser.parse_args()
    now = datetime.now(UTC)
    text = Path(args.roster).read_bytes() if args.roster else generate(args.agents, seed=1).encode()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        (tmp / "roster.yaml").write_bytes(text)
        engine = make_engine(url)
        access = AccessStore(engine)
        token = access.create_token("bench", Role.VIEWER, expires_at=None, by="bench", now=now)
        access.add_user("ops", Role.VIEWER, PASSWORD, by="bench", now=now)
        engine.dispose()
        Redis.from_url(REDIS).flushdb()
        env = api_env(url, tmp / "roster.yaml")
        checkout = Path(args.checkout).resolve() if args.checkout else None
        if checkout:  # its modules, not this one's ("-m" puts the working directory first)
            env["PYTHONPATH"] = str(checkout)
        try:
            with api_server(env, tmp / "api.log", token, cwd=checkout) as (base, proc):
                sampler = Sampler(proc.pid)
                uploads = [partial(upload, base, token, text)] * args.uploads
                logins = [partial(login, base, n) for n in range(args.logins)]
                figures = {
                    "uploads": scenario(sampler, base, token, uploads),
                    "logins": scenario(sampler, base, token, logins),
                    "both": scenario(sampler, base, token, uploads + logins),
                }
                sampler.stop()
        finally:
            Redis.from_url(REDIS).flushdb()
    print(
        {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "checkout": args.checkout or "this one",
            "roster": args.roster or f"gen_roster.py --agents {args.agents}",
            "upload_bytes": len(text),
            "uploads": args.uploads,
            "logins": args.logins,
            **figures,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
