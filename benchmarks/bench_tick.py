"""Scheduler tick benchmark: what one tick costs with nothing due, and with a boundary due.

For each size (agents; the roster of ``gen_roster.generate``: 200 shifts, 3 zones, 2 accounts,
with ``base_url: http://127.0.0.1:9`` in place of the regions: nothing is ever sent), in a fresh
subprocess so that its peak memory is its own:

- a fresh database (migrations applied: SQLite, or with ``--database URL`` a new PostgreSQL
  database, dropped after), a :class:`~scheduler.loop.Scheduler` on the roster file (or with
  ``--source db`` on the roster tables, the file imported first: the import is timed apart), and
  a dispatcher that does nothing (the broker is not what is measured);
- ``B`` = the instant of the next 24 hours from 2026-12-07T00:00Z (a Monday) with the most
  transitions due, from ``Planner(roster).transitions``;
- **start/reconcile**: ``start(B - 2 s)``: load and validate the roster, plan the horizon
  (30 min), record the roster version, and reconcile. No device state is confirmed in the fresh
  database, so the reconcile records (and "enqueues") one action per device: the first start
  of a new installation, the heaviest start there is;
- **idle ticks**: ``tick(B - 2 s + k ms)`` for k = 1 .. ``--ticks`` (1000): nothing is due in
  that second (checked: every tick must report ``due == 0``), so each is what a running
  scheduler does about every second of the day: a read of the ``changes`` counters (roster,
  holds, pauses), a ``stat`` of the roster file (with the file source) and a look at the front
  of the plan;
- **boundary tick**: ``tick(B)``: the transitions due at B are recorded (one INSERT per 500),
  claimed and handed to the no-op dispatcher; then ``tick(B + 1 s)``, idle again.

Reported: start/reconcile time and the number of actions it recorded; idle tick median, p99
and max in microseconds; the boundary tick's time and transitions; peak RSS (``ru_maxrss``) of
the subprocess.

    python benchmarks/bench_tick.py                   # 10,000 agents
    python benchmarks/bench_tick.py 10000 100000      # chosen sizes
    python benchmarks/bench_tick.py --source db --database postgresql+psycopg://postgres@127.0.0.1/postgres

Exits 1 if a measurement fails, or if an idle tick finds something due.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import Timed, database, run_measurement
from gen_roster import SHIFTS, ZONES, generate

from shiftswitch.broker import messages

NOW = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, as in bench_planner
BASE_URL = "http://127.0.0.1:9"  # the discard port: never called, the dispatcher sends nothing
DEFAULT_SIZES = (10_000,)


class NoDispatch:
    """A dispatcher that sends nothing, counting what it was given."""

    def __init__(self) -> None:
        self.messages = 0
        self.actions = 0

    def held(self) -> set[int] | None:
        return None  # cannot tell: the sweep waits for the long grace

    def dispatch(self, groups: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self.messages += len(messages(groups))
        self.actions += sum(len(actions) for _, actions in groups)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # KiB on Linux


def _busiest(transitions: Sequence[Any]) -> tuple[datetime, int]:
    """The instant with the most transitions, and how many."""
    counts = Counter(t.at for t in transitions)
    at, n = max(counts.items(), key=lambda item: (item[1], -item[0].timestamp()))
    return at, n


def _roster_file(path: Path, agents: int, seed: int) -> tuple[int, datetime, int, int]:
    """Write the roster; its size in bytes, its busiest instant, transitions then, devices."""
    from shiftswitch.planning.planner import Planner  # noqa: PLC0415
    from shiftswitch.sources.source import RosterFile  # noqa: PLC0415 - not in the parent

    text = generate(agents, seed)
    for region in ("region: mumbai", "region: singapore"):
        text = text.replace(region, f"base_url: '{BASE_URL}'")
    path.write_text(text)
    roster = RosterFile(str(path)).load(NOW)
    boundary, due = _busiest(Planner(roster).transitions(NOW, NOW + timedelta(days=1)))
    return len(text.encode()), boundary, due, sum(len(a.devices) for a in roster.agents.values())


def _roster_source(source: str, path: Path, engine: Any) -> tuple[Any, float | None]:
    """The scheduler's roster source; with ``db``, the file imported into the roster tables
    first (the seconds that took)."""
    from shiftswitch.sources.source import RosterFile, RosterTables  # noqa: PLC0415 - not in the parent
    from shiftswitch.sources.store import RosterStore  # noqa: PLC0415

    if source != "db":
        return RosterFile(str(path)), None
    body = path.read_text()
    store = RosterStore(engine)
    t0 = time.perf_counter()
    store.write(lambda _: body, source="bench", by="bench", now=NOW)
    return RosterTables(store), time.perf_counter() - t0


def _worker(agents: int, seed: int, ticks: int, source: str, db: str | None) -> dict[str, Any]:
    """Measure one size in this process."""
    from scheduler.loop import Scheduler  # noqa: PLC0415 - not in the parent
    from shiftswitch.actions import ActionStore  # noqa: PLC0415
    from shiftswitch.db import make_engine, upgrade  # noqa: PLC0415

    with (
        tempfile.TemporaryDirectory(prefix="bench_tick_") as tmp,
        database(db, Path(tmp)) as url,
    ):
        path = Path(tmp) / "schedules.yaml"
        size, boundary, due_at_boundary, devices = _roster_file(path, agents, seed)
        upgrade(url)
        engine = make_engine(url)
        roster, import_s = _roster_source(source, path, engine)

        dispatcher = NoDispatch()
        store = ActionStore(engine)
        scheduler = Scheduler(roster, store, dispatcher)
        # The parts of start(), timed by wrapping this process's objects (not the product code).
        parts = {
            "load": Timed(scheduler.source.load),
            "reconcile": Timed(scheduler.reconcile),
            "record": Timed(store.record),
            "enqueue": Timed(store.enqueue),
        }
        scheduler.source.load = parts["load"]  # type: ignore[method-assign]
        scheduler.reconcile = parts["reconcile"]  # type: ignore[method-assign]
        store.record, store.enqueue = parts["record"], parts["enqueue"]  # type: ignore[method-assign]
        begin = boundary - timedelta(seconds=2)
        t0 = time.perf_counter()
        started = scheduler.start(begin)
        start_s = time.perf_counter() - t0
        start_parts = {k: v.seconds for k, v in parts.items()}
        for part in parts.values():
            part.seconds = 0.0
        start_actions = dispatcher.actions

        idle_us: list[float] = []
        busy = 0
        for k in range(1, ticks + 1):
            at = begin + timedelta(milliseconds=k)
            t0 = time.perf_counter()
            report = scheduler.tick(at)
            idle_us.append((time.perf_counter() - t0) * 1e6)
            busy += report.due + report.reconciled + report.reloaded
        if busy:
            raise SystemExit(f"{busy} idle ticks found something to do; pick another window")

        before = dispatcher.actions, dispatcher.messages
        t0 = time.perf_counter()
        report = scheduler.tick(boundary)
        boundary_s = time.perf_counter() - t0
        boundary_parts = {k: parts[k].seconds for k in ("record", "enqueue")}
        t0 = time.perf_counter()
        after = scheduler.tick(boundary + timedelta(seconds=1))
        after_us = (time.perf_counter() - t0) * 1e6
        engine.dispose()
    idle_sorted = sorted(idle_us)
    return {
        "agents": agents,
        "source": source,
        "database": url.split(":", 1)[0],
        "import_s": import_s,
        "devices": devices,
        "yaml_bytes": size,
        "start_s": start_s,
        "start_parts_s": start_parts,
        "start_reconciled": started.reconciled,
        "start_recorded": start_actions,
        "ticks": ticks,
        "idle_median_us": statistics.median(idle_us),
        "idle_p99_us": idle_sorted[max(0, round(0.99 * len(idle_sorted)) - 1)],
        "idle_max_us": idle_sorted[-1],
        "idle_first_us": idle_us[0],
        "boundary": boundary.isoformat(),
        "boundary_planned": due_at_boundary,
        "boundary_due": report.due,
        "boundary_enqueued": report.enqueued,
        "boundary_messages": dispatcher.messages - before[1],
        "boundary_s": boundary_s,
        "boundary_parts_s": boundary_parts,
        "after_boundary_us": after_us,
        "after_boundary_due": after.due,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _measure(args: argparse.Namespace, agents: int) -> dict[str, Any]:
    more = ["--database", args.database] if args.database else []
    options = ["--seed", str(args.seed), "--ticks", str(args.ticks), "--source", args.source]
    return run_measurement(
        __file__,
        [*options, *more, str(agents)],
        args.timeout,
        f"{agents} agents",
    )


def _row(r: dict[str, Any]) -> str:
    p, b = r["start_parts_s"], r["boundary_parts_s"]
    return (
        f"| {r['agents']:,} | {r['start_s']:.2f} ({r['start_recorded']:,} actions; "
        + (f"after an import of {r['import_s']:.2f} s; " if r["import_s"] is not None else "")
        + f"load "
        f"{p['load']:.2f}, record {p['record']:.2f}, enqueue {p['enqueue']:.2f}) "
        f"| {r['idle_median_us']:.0f} | {r['idle_p99_us']:.0f} | {r['idle_max_us']:.0f} "
        f"| {r['boundary'][11:16]}Z: {r['boundary_due']:,} due, {r['boundary_s'] * 1000:.0f} ms "
        f"(record {b['record'] * 1000:.0f}, enqueue {b['enqueue'] * 1000:.0f}) "
        f"| {r['after_boundary_us']:.0f} "
        f"| {r['peak_rss_mib']:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time scheduler ticks with nothing due and with a boundary due."
    )
    parser.add_argument("sizes", nargs="*", type=int, help="numbers of agents (default: 10000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--ticks", type=int, default=1000, help="idle ticks timed (1000)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per size (600)"
    )
    parser.add_argument(
        "--source",
        choices=("yaml", "db"),
        default="yaml",
        help="the scheduler's roster: the file (yaml), or the roster tables after an import (db)",
    )
    parser.add_argument(
        "--database",
        help="sqlite (default), or a PostgreSQL URL (a fresh database made there, then dropped)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes: list[int] = args.sizes or list(DEFAULT_SIZES)

    if args.worker:
        print(json.dumps(_worker(sizes[0], args.seed, args.ticks, args.source, args.database)))
        return 0

    print(
        f"# Tick benchmark: {SHIFTS} shifts, zones {', '.join(ZONES)}, 2 accounts; "
        f"{'PostgreSQL' if args.database and args.database != 'sqlite' else 'SQLite'}; "
        f"roster source {args.source}; "
        f"no-op dispatcher; {args.ticks} idle ticks 1 ms apart; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n",
        file=sys.stderr if args.json else sys.stdout,
        flush=True,
    )
    results: list[dict[str, Any]] = []
    failed = False
    for agents in sizes:
        started = time.perf_counter()
        try:
            r = _measure(args, agents)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"FAILED: {exc}", file=sys.stderr, flush=True)
            failed = True
            continue
        results.append(r)
        print(
            f"  {agents:>7,} agents: idle tick median {r['idle_median_us']:.0f} us "
            f"({time.perf_counter() - started:.0f} s in subprocess)",
            file=sys.stderr,
            flush=True,
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return 1 if failed else 0
    print(
        "| agents | start/reconcile (s) | idle tick median (us) | p99 (us) | max (us) "
        "| busiest boundary tick | next idle tick (us) | peak RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in results:
        print(_row(r))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
