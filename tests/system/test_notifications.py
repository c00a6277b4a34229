"""Notifications from real processes: a worker and a scheduler against the sandbox, telling a
JSON webhook the test starts. Five devices Exotel refuses make one grouped ``switch_failed``
message naming the five; with no worker, the scheduler tells ``no_worker`` and, once one
starts, ``recovered``; the scheduler killed, a worker tells ``no_scheduler``; an agent with a
contact is reminded of each start by mail."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from shiftswitch.coordination import Leadership
from tests.pipeline import kill, pipeline, roster_yaml, user, wait_until
from tests.receivers import Webhook, smtp, webhook

N = 5
FAILED = re.compile(r"shiftswitch: (\d+) switches failed")
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

        def told() -> list[dict[str, Any]]:
            return [m for m in hook.messages() if FAILED.fullmatch(str(m["title"]))]

        wait_until(lambda: bool(told()), AHEAD + 30, "one message for the five",
                   detail=hook.messages)  # fmt: skip
        # The first message names every device: the five OFFs refused at the start, and, on a
        # slow machine where the boundary came before the message went, some or all of their ONs.
        message = told()[0]
        count = int(FAILED.fullmatch(str(message["title"])).group(1))  # type: ignore[union-attr]
        assert N <= count <= 2 * N, message["title"]
        for i in range(N):
            assert f"a{i} desk O" in message["message"]
        assert message["message"].count("Device is unverified") == count
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


def test_the_scheduler_killed_is_told_by_a_worker(
    tmp_path: Path, postgres_url: str, hook: Webhook
) -> None:
    users = [user("u-0", ("7200", "Desk", "+919931007200"))]
    boundary = datetime.now(UTC) + timedelta(hours=1)
    with pipeline(tmp_path, postgres_url, users, lambda url: roster(url, boundary),
                  env=env(tmp_path, hook)) as p:  # fmt: skip
        p.start_worker()
        scheduler = p.start_scheduler_process("--tick", "0.5")
        redis = Redis.from_url(p.redis_url)
        wait_until(lambda: Leadership.last_renewed(redis) is not None, 20, "the scheduler leads")
        kill(scheduler)  # SIGKILL: its lease runs out, and nobody leads
        wait_until(lambda: "shiftswitch: no scheduler leading" in titles(hook), 45,
                   "no_scheduler told by the worker", detail=hook.messages)  # fmt: skip


def test_an_agent_with_a_contact_gets_one_reminder_per_shift_start(
    tmp_path: Path, postgres_url: str
) -> None:
    users = [user("u-0", ("7200", "Desk", "+919931007200"))]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=14)
    later = start + timedelta(seconds=12)  # the scheduler looks every 5 s; messages wait 2 s

    def roster(url: str) -> str:
        agents = {"a0": ("u-0", {"desk": "7200"})}
        text = roster_yaml(url, agents, []).replace("shifts:\n", "shifts: []\n")
        text = text.replace("user_id: 'u-0', ", "user_id: 'u-0', contact: a0@example.com, ")
        entries = [
            f"  - {{agent: a0, from: '{at.isoformat()}', "
            f"to: '{(at + timedelta(seconds=6)).isoformat()}', shift: s{n}}}\n"
            for n, at in enumerate((start, later))
        ]
        return text + "assignments:\n" + "".join(entries)

    with smtp() as (box, port):
        (tmp_path / "notify.yaml").write_text(
            "channels:\n  agents: {url_env: AGENT_MAIL_URL}\n"
            "rules:\n  - {events: [shift_reminder], to: [agents], before: 8s}\n"
        )
        mail = f"mailto://127.0.0.1:{port}?from=shifts@example.com&mode=insecure"
        env = {"SHIFTSWITCH_NOTIFY": str(tmp_path / "notify.yaml"), "AGENT_MAIL_URL": mail}
        with pipeline(tmp_path, postgres_url, users, roster, env=env) as p:
            p.start_scheduler_process("--tick", "0.5")
            wait_until(lambda: len(box.mail) >= 1, 20, "the first reminder")
            assert datetime.now(UTC) < start  # before its start
            wait_until(lambda: len(box.mail) >= 2, 20, "the second reminder")
            assert datetime.now(UTC) < later
        mails = list(box.mail)
    assert [to for _, to, _ in mails] == [["a0@example.com"], ["a0@example.com"]]
    texts = [" ".join(text_of(content).split()) for _, _, content in mails]
    assert "Your shift s0 starts at" in texts[0] and "Your shift s1 starts at" in texts[1]


def text_of(content: bytes) -> str:
    """The plain text of a mail."""
    message = email.message_from_bytes(content)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
    return ""
