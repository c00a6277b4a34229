"""The processes a benchmark starts (the sandbox, workers), stopped on the way out; and the CPU
time they, this process, Redis, PostgreSQL and the whole machine have used (Linux ``/proc``)."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from redis import Redis

from shiftswitch.broker import make_celery
from shiftswitch.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class Processes:
    """Subprocesses in sessions of their own, stopped (TERM, then KILL) on the way out."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "shiftswitch", *argv],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append((name, proc))

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU time of each process so far (Linux /proc; empty elsewhere)."""
        out = {}
        for name, proc in self.procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early with code {proc.returncode}")

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        procs.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def start_sandbox(
    procs: Processes, tmp: Path, seed: Path, latency_ms: float, more: Sequence[str] = ()
) -> str:
    log = tmp / "sandbox.log"
    argv = ["sandbox", "--port", "0", "--state", str(seed), "--latency-ms", f"{latency_ms:g}"]
    argv += more
    procs.start("sandbox", argv, dict(os.environ), log)
    found: list[str] = []

    def listening() -> bool:
        m = re.search(r"listening on (http://\S+)", log.read_text(errors="replace"))
        if m:
            found.append(m.group(1))
        return bool(m)

    wait_for(listening, 60, "the sandbox to listen", procs)
    return found[0]


def postgres_cpu() -> float:
    """CPU seconds of the local PostgreSQL server's processes alive now (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, tail = stat.read_text().rpartition(")")
        except OSError:
            continue
        if head.endswith("(postgres"):
            fields = tail.split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def redis_cpu(url: str) -> float:
    """CPU seconds the Redis server has used (``INFO cpu``; all its clients, not only ours)."""
    info = Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def start_workers(
    procs: Processes, args: argparse.Namespace, env: dict[str, str], tmp: Path
) -> None:
    logs = []
    for w in range(args.workers):
        log = tmp / f"worker{w}.log"
        argv = [
            "worker",
            f"--concurrency={args.concurrency}",
            f"--loglevel={args.loglevel}",
            f"--hostname=w{w}@bench",
        ]
        if getattr(args, "worker_code", None):  # bench_punctuality's workers have none
            code = Path(args.worker_code).resolve()
            procs.start(f"worker {w}", argv, {**env, "PYTHONPATH": str(code)}, log, cwd=code)
        else:
            procs.start(f"worker {w}", argv, env, log)
        logs.append(log)
    app = make_celery(Settings.from_env(env))
    for w, log in enumerate(logs):
        # "ready." is logged at INFO; below that, ask the worker (a broadcast ping).
        def ready(log: Path = log, name: str = f"w{w}@bench") -> bool:
            if "ready." in log.read_text(errors="replace"):
                return True
            return bool(app.control.ping(destination=[name], timeout=0.5))

        wait_for(ready, 60, f"worker {w} to be ready", procs)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (0s elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / tick, total / tick


def cpu_now(procs: Processes, redis_url: str, postgres: bool) -> dict[str, float]:
    busy, total = machine_cpu()
    out = {"machine busy": busy, "machine total": total}
    out["scheduler (this process, incl. polling)"] = time.process_time()
    out.update(procs.cpu_seconds())
    out["redis-server (all clients)"] = redis_cpu(redis_url)
    if postgres:
        out["postgres (all backends)"] = postgres_cpu()
    return out
