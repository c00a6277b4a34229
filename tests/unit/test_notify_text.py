"""What a message says, and what an error about a channel may not say."""

from __future__ import annotations

from shiftswitch.notify.messages import message
from shiftswitch.notify.send import blot


def test_an_error_never_says_the_url_or_the_recipient() -> None:
    url = "mailtos://ops:pw1@SMTP.Example.net:465/?from=x@example.net"
    said = "could not reach smtp.example.net with ops/pw1 for asha@example.com (465)"
    blotted = blot(said, url, "asha@example.com")
    for secret in ("pw1", "smtp", "example", "asha@example.com", "465"):
        assert secret not in blotted.lower()


def test_a_message_names_the_first_ten_and_counts_the_rest() -> None:
    events = [{"agent": f"a{i}", "device": "desk", "on": False, "status": "blocked",
               "why": "an earlier OFF failed"} for i in range(10)]  # fmt: skip
    title, body = message("switch_failed", events, 12, "ssw-switch_failed-3", None)
    assert title == "shiftswitch: 12 switches failed"
    lines = body.splitlines()
    assert lines[0] == "a0 desk OFF: blocked, an earlier OFF failed"
    assert lines[-2:] == ["... and 2 more", "(delivery ssw-switch_failed-3)"]
