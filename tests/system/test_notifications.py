"""Notifications from real processes: a worker and a scheduler against the sandbox, telling a
JSON webhook the test starts. Five devices Exotel refuses make one grouped ``switch_failed``
message naming the five; with no worker, the scheduler tells ``no_worker`` and, once one
starts, ``recovered``; with no scheduler, a worker tells ``no_scheduler``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline import pipeline, roster_yaml, user, wait_until
from tests.receivers import Webhook, webhook

N = 5
AHEAD = 8.0  # seconds from the scheduler's start to the boundary
RULES = (
    "channels:\n  ops: {url_env: OPS_NOTIFY_URL}\n"
    "rules:\n  - {events: [switch_failed, no_worker, no_scheduler], to: [ops]}\n"
)


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook() as h:
        yield h


def roster(base_url: str, boundary: datetime) -> str:
    """N agents, each with its desk ON from ``boundary`` for an hour."""
    agents = {f"a{i}": (f"u-{i}", {"desk": f"{7200 + i}"}) for i in range(N)}
    text = roster_yaml(base_url, agents, []).replace("shifts:\n", "shifts: []\n")
    end = boundary + timedelta(hours=1)
    lines = [
        f"  - {{agent: a{i}, device: desk, from: '{boundary.isoformat()}', "
        f"to: '{end.isoformat()}'}}"
        for i in range(N)
    ]
    return text + "overrides:\n" + "\n".join(lines) + "\n"


def env(tmp_path: Path, hook: Webhook) -> dict[str, str]:
    (tmp_path / "notify.yaml").write_text(RULES)
    return {
        "SHIFTSWITCH_NOTIFY": str(tmp_path / "notify.yaml"),
        "OPS_NOTIFY_URL": hook.url(),
        "SHIFTSWITCH_WATCH_AFTER": "5",
        "SHIFTSWITCH_PUBLIC_URL": "https://ss.example",
    }


def titles(hook: Webhook) -> list[str]:
    return [str(m["title"]) for m in hook.messages()]


def test_five_devices_refused_make_one_message_naming_them(
    tmp_path: Path, postgres_url: str, hook: Webhook
) -> None:
    # Unverified devices: Exotel refuses to switch them, for good.
    users: list[dict[str, Any]] = [
        user(f"u-{i}", (f"{7200 + i}", "Desk", f"+9199310072{i:02d}"), verified=False)
        for i in range(N)
    ]
    boundary = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=AHEAD)
    with pipeline(tmp_path, postgres_url, users, lambda url: roster(url, boundary),
                  env=env(tmp_path, hook)) as p:  # fmt: skip
        p.start_worker()
        p.start_scheduler_process("--tick", "0.5")
        wait_until(lambda: "shiftswitch: 5 switches failed" in titles(hook), AHEAD + 30,
                   "one message for the five", detail=hook.messages)  # fmt: skip
        [message] = [m for m in hook.messages() if m["title"].endswith("switches failed")]
        for i in range(N):  # the first (an OFF, or the ON) of each device, refused
            assert f"a{i} desk O" in message["message"]
        assert message["message"].count("Device is unverified") == N
        assert "https://ss.example/operations" in message["message"]


def test_no_worker_is_told_and_its_recovery_once_one_starts(
    tmp_path: Path, postgres_url: str, hook: Webhook
) -> None:
    users = [user(f"u-{i}", (f"{7200 + i}", "Desk", f"+9199310072{i:02d}")) for i in range(N)]
    boundary = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    with pipeline(tmp_path, postgres_url, users, lambda url: roster(url, boundary),
                  env=env(tmp_path, hook)) as p:  # fmt: skip
        p.start_scheduler_process("--tick", "0.5")
        wait_until(lambda: "shiftswitch: no worker alive" in titles(hook), 45,
                   "no_worker told", detail=hook.messages)  # fmt: skip
        [alert] = [m for m in hook.messages() if m["title"] == "shiftswitch: no worker alive"]
        assert "no worker alive;" in alert["message"] and "actions waiting" in alert["message"]
        p.start_worker()
        wait_until(lambda: "shiftswitch: recovered" in titles(hook), 45,
                   "recovered told", detail=hook.messages)  # fmt: skip
        assert titles(hook).count("shiftswitch: no worker alive") == 1


def test_no_scheduler_is_told_by_a_worker(tmp_path: Path, postgres_url: str, hook: Webhook) -> None:
    users = [user("u-0", ("7200", "Desk", "+919931007200"))]
    boundary = datetime.now(UTC) + timedelta(hours=1)
    with pipeline(tmp_path, postgres_url, users, lambda url: roster(url, boundary),
                  env=env(tmp_path, hook)) as p:  # fmt: skip
        p.start_worker()
        wait_until(lambda: "shiftswitch: no scheduler leading" in titles(hook), 45,
                   "no_scheduler told by the worker", detail=hook.messages)  # fmt: skip
