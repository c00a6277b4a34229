"""Limiter benchmark: one account's boundary against a gateway that refuses per request (strict,
as nginx limit_req with no burst) behind a network with jitter, and against a windowed one.

Each scenario is one run of ``bench_pipeline.py`` (the real pipeline: the sandbox and the
workers as processes, the scheduler in that process; see its docstring), with ``--workers``
(2) worker processes, ``--latency-ms`` (50) plus, for the strict gateway, ``--jitter-ms`` (50)
at random on every request before the limit is checked:

- ``300 @ 600/min``: 300 ONs, the roster's and the sandbox's limit 600/min (floor 30 s);
- ``100 @ 60/min``: 100 ONs at 60/min (floor 100 s);
- ``500 @ 60/min``: 500 ONs at 60/min (floor 500 s), only when named with ``--scenario``;

each against ``strict`` (with the jitter) and ``window`` (the sandbox's default, no jitter).
Reported per scenario: completion as a ratio to the floor (N / rate), the 429s the sandbox
answered, the workers' CPU per switch (ms), and the gaps between consecutive requests at the
sandbox (their excess over the spacing in all, those over twice it, the largest): time spent
on the spacing itself, or on slots nobody used. ``--worker-code DIR`` runs the workers from
another checkout (the product before this limiter, say) against the same sandbox.

    python benchmarks/bench_limiter.py --redis-url redis://127.0.0.1:6380
    python benchmarks/bench_limiter.py --worker-code /tmp/before --only strict
    python benchmarks/bench_limiter.py --json > after.json
    python benchmarks/bench_limiter.py --scenario "500 @ 60/min" --only strict

Exits 1 if a run fails (see ``bench_pipeline.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = (  # (name, devices, rate)
    ("300 @ 600/min", 300, "600/min"),
    ("100 @ 60/min", 100, "60/min"),
    ("500 @ 60/min", 500, "60/min"),
)
LONG = ("500 @ 60/min",)  # run only when named
MODES = ("strict", "window")


def run_one(args: argparse.Namespace, devices: int, rate: str, mode: str) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(HERE / "bench_pipeline.py"),
        "--devices",
        str(devices),
        "--rate",
        rate,
        "--rate-mode",
        mode,
        "--latency-ms",
        f"{args.latency_ms:g}",
        "--jitter-ms",
        f"{args.jitter_ms if mode == 'strict' else 0:g}",
        "--workers",
        str(args.workers),
        "--redis-url",
        args.redis_url,
        "--redis-db",
        str(args.redis_db),
        "--timeout",
        "900",
        "--json",
    ]
    if args.database:
        argv += ["--database", args.database]
    if args.worker_code:
        argv += ["--worker-code", args.worker_code]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"{devices} @ {rate} {mode}: exit {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def figures(name: str, mode: str, r: dict[str, Any]) -> dict[str, Any]:
    workers = sum(v for k, v in r["cpu_s"].items() if k.startswith("worker"))
    return {
        "scenario": name,
        "gateway": mode,
        "jitter_ms": r["jitter_ms"],
        "completion_s": round(r["completion_s"], 2),
        "floor_s": r["floor_s"],
        "ratio": round(r["completion_s"] / r["floor_s"], 3),
        "http_429": r["http_429"],
        "requests": r["requests"],
        "statuses": r["statuses"],
        "worker_cpu_ms_per_switch": round(1000 * workers / r["devices"], 1),
        "first_request_s": r["sandbox_first_request_s"],
        "gaps_over_spacing_s": r.get("gaps_over_spacing_s"),
        "gaps_over_2x_spacing": r.get("gaps_over_2x_spacing"),
        "largest_gaps_s": r.get("largest_gaps_s"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
    parser.add_argument(
        "--jitter-ms", type=float, default=50.0, help="jitter before the strict limit (50)"
    )
    parser.add_argument("--database", help="as bench_pipeline.py (default: SQLite)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="Redis server")
    parser.add_argument("--redis-db", type=int, default=14, help="flushed before and after (14)")
    parser.add_argument("--worker-code", metavar="DIR", help="run the workers from this checkout")
    parser.add_argument("--only", choices=MODES, help="one gateway only")
    parser.add_argument("--scenario", choices=[s[0] for s in SCENARIOS], help="one only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    rows = []
    try:
        for name, devices, rate in SCENARIOS:
            if name != args.scenario and (args.scenario or name in LONG):
                continue
            for mode in MODES:
                if args.only and mode != args.only:
                    continue
                print(f"== {name}, {mode} gateway", file=sys.stderr)
                rows.append(figures(name, mode, run_one(args, devices, rate, mode)))
    except RuntimeError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        "| scenario | gateway | completion (s) | ratio to floor | 429s | worker CPU (ms/switch) |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        gateway = f"{row['gateway']}" + (
            f", jitter {row['jitter_ms']:g} ms" * bool(row["jitter_ms"])
        )
        print(
            f"| {row['scenario']} | {gateway} | {row['completion_s']:.1f} | "
            f"{row['ratio']:.3f}x | {row['http_429']} | {row['worker_cpu_ms_per_switch']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
