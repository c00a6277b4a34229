"""``shiftswitch check`` with a real worker process: the exit code a health probe relies on."""

from __future__ import annotations

import json
import time
from pathlib import Path

from shiftswitch import health
from shiftswitch.settings import Settings
from tests.pipeline import pipeline, roster_yaml, user

AGENTS = {"ravi": ("u-101", {"desk": "100281"})}
SHIFTS = [{"name": "am", "start": "0 9 * * *", "duration": "4h", "members": ["ravi"]}]


def test_check_passes_with_everything_up_and_names_what_fails(
    tmp_path: Path, postgres_url: str
) -> None:
    users = [user("u-101", ("100281", "Desk", "+919953125002"))]
    with pipeline(tmp_path, postgres_url, users, lambda u: roster_yaml(u, AGENTS, SHIFTS)) as p:
        no_worker = p.cli("check")
        assert no_worker.returncode == 1
        assert "FAIL  workers   no worker answered" in no_worker.stdout

        p.start_worker()
        every = p.cli(
            "check",
            "--only",
            "database,redis,roster,workers,sandbox",
            "--sandbox-url",
            p.sandbox.url,
            "--json",
        )
        assert every.returncode == 0, every.stdout + every.stderr
        results = json.loads(every.stdout)
        assert [(r["name"], r["ok"]) for r in results] == [
            ("database", True),
            ("redis", True),
            ("roster", True),
            ("workers", True),
            ("sandbox", True),
        ]
        assert "w0@test" in results[3]["detail"]
        assert p.cli("check", "--only", "workers", "--worker", "w0@test").returncode == 0
        # The first answer ends the wait: far from a 20 s timeout, on a loaded machine too.
        started = time.monotonic()
        found = health.workers(Settings.from_env(p.env), "w0@test", timeout=20)
        assert found.ok and time.monotonic() - started < 10, found
        assert p.cli("check", "--only", "workers", "--worker", "nobody@x").returncode == 1
