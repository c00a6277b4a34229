"""What the benchmark scripts share: timing a callable, a measurement in a fresh process, a
scratch world of real processes, how a script reports its figures, and a few statistics
of them (percentiles, requests in flight, gaps)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import create_engine, make_url, text

# The benchmarks' Exotel is the sandbox on loopback: allowed to receive the credentials, as the
# demo allows its own (the processes a benchmark starts inherit it).
os.environ.setdefault("SHIFTSWITCH_ALLOWED_BASE_URLS", "http://127.0.0.1")


class Timed:
    """Wraps a callable and adds up the time spent in it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def run_measurement(script: str, args: Sequence[str], timeout: float, what: str) -> dict[str, Any]:
    """Run ``script --worker ARGS`` in a fresh interpreter; its last stdout line is JSON figures."""
    cmd = [sys.executable, os.path.abspath(script), "--worker", *args]
    proc = subprocess.run(  # noqa: S603 - our own script, with our own interpreter
        cmd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {proc.returncode}):\n{proc.stderr.strip()[-3000:]}"
        )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def database(arg: str | None, tmp: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file in ``tmp``, or a new PostgreSQL database (dropped)."""
    if not arg or arg == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    if arg in ("postgres", "postgresql"):
        arg = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    admin_url = make_url(arg)
    if not admin_url.drivername.startswith("postgresql"):
        raise SystemExit(f"--database: expected sqlite or a postgresql URL, not {arg}")
    name = f"shiftswitch_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Scratch:
    """A run's world: its directory, its database, its Redis database (flushed before and
    after), and the stack that undoes it all."""

    stack: ExitStack
    tmp: Path
    database_url: str
    redis: Redis


@contextmanager
def scratch(database_arg: str | None, redis_url: str, prefix: str) -> Iterator[Scratch]:
    """A fresh :class:`Scratch`; whatever is put on its stack is undone first on the way out.
    Its directory (a SQLite database, the processes' logs) is removed after a run that ended
    well, and kept after one that did not, for its logs (said on stderr)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with ExitStack() as stack:
            url = stack.enter_context(database(database_arg, tmp))
            redis = Redis.from_url(redis_url)
            redis.flushdb()
            stack.callback(redis.flushdb)
            yield Scratch(stack, tmp, url, redis)
    except BaseException:
        print(f"the run's files and its processes' logs are kept in {tmp}", file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)


def measured(run: Callable[[], dict[str, Any]]) -> dict[str, Any] | int:
    """``run()``'s figures; or the script's exit status when it was stopped (SIGTERM or Ctrl-C:
    130, its processes stopped) or failed (a RuntimeError, said on stderr: 1)."""

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    try:
        return run()
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


def show(result: dict[str, Any], as_json: bool, width: int = 26) -> None:
    """The figures: as JSON, or a line each."""
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")


def gaps(log: list[dict[str, Any]], spacing: float | None) -> dict[str, Any]:
    """Where a boundary lost time: the gaps between consecutive requests reaching the sandbox,
    the five largest, and how much the gaps exceed the limiter's ``spacing`` in all (the
    seconds over the floor that the workers' pacing accounts for)."""
    at = sorted(r["started"] for r in log)
    between = [b - a for a, b in itertools.pairwise(at)]
    largest = {"largest_gaps_s": [round(g, 3) for g in sorted(between, reverse=True)[:5]]}
    if not between or spacing is None:
        return largest
    return {
        **largest,
        "gaps_over_spacing_s": round(sum(g - spacing for g in between if g > spacing), 2),
        "gaps_over_2x_spacing": sum(1 for g in between if g > 2 * spacing),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def max_in_flight(log: list[dict[str, Any]]) -> int:
    events = sorted([(r["started"], 1) for r in log] + [(r["finished"], -1) for r in log])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak
