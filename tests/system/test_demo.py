"""``shiftswitch demo`` as a newcomer runs it: a real sandbox, worker and scheduler; Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline import wait_until
from tests.services import DEMO_REDIS_DB, redis_url

REDIS_DB = redis_url(DEMO_REDIS_DB)  # the demo flushes its database: one no other test uses


def test_the_demo_switches_devices_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    # The demo's shifts flip at each minute: start it early enough in one that the first
    # reconcile and its four switches are over before the next boundary adds switches of its
    # own (about 5 s from the start here; 20 s left at least).
    second = time.time() % 60
    if not 1 <= second <= 40:
        time.sleep((61 - second) % 60)
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shiftswitch",
                "demo",
                "--dir",
                str(tmp_path / "demo"),
                "--port",
                "0",
                "--redis-url",
                REDIS_DB,
            ],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # the first reconcile sets all four devices to the roster's state now
            wait_until(
                lambda: out.read_text().count("succeeded") >= 4 or proc.poll() is not None,
                60,
                "four switches",
            )
            assert proc.poll() is None, out.read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    text = out.read_text()
    assert "Traceback" not in text
    assert "(reconcile)" in text and "demo stopped: 4 switches shown" in text
    switched = {tuple(line.split()[:3]) for line in text.splitlines() if "succeeded" in line}
    assert {(agent, device) for agent, device, _ in switched} == {
        ("asha", "desk"),
        ("asha", "mobile"),
        ("ravi", "desk"),
        ("meera", "softphone"),
    }
    assert sum(state == "ON" for _, _, state in switched) == 2  # asha on one device, and one other
    # the worker it started is gone
    worker = int(re.search(r"worker\s+pid (\d+)", text).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker {worker} still running after the demo stopped")


def test_the_demo_without_redis_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shiftswitch",
            "demo",
            "--dir",
            str(tmp_path),
            "--redis-url",
            "redis://127.0.0.1:1/0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "Redis at redis://127.0.0.1:1/0 is not reachable" in result.stderr
    assert "scripts/demo" in result.stderr
