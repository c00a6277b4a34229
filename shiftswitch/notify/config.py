"""The channels and rules of ``SHIFTSWITCH_NOTIFY`` (README: Notifications).

A channel is an Apprise URL read from the environment variable it names (``url_env``): URLs hold
secrets, so they are never written in the file, a table, a log line or a message. A rule sends
some kinds of event to some channels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from shiftswitch.problems import RosterError
from shiftswitch.roster.model import parse_duration
from shiftswitch.roster.yamldoc import load
from shiftswitch.settings import ConfigError

# The kinds of event (README: Notifications); "recovered" goes to the channels that got the alert.
ALERTS = (
    "switch_failed", "boundary_late", "drift", "unknown", "no_worker", "no_scheduler",
    "roster_refused", "rate_limited", "exotel_down",
)  # fmt: skip
TO_AGENTS = ("shift_reminder", "shift_changed")
KINDS = frozenset({*ALERTS, *TO_AGENTS, "recovered", "test"})


@dataclass(frozen=True, slots=True)
class Rule:
    events: frozenset[str]
    to: tuple[str, ...]
    before: timedelta | None = None  # shift_reminder: how long before the start


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Channels (name -> the environment variable of its URL) and rules; empty: no one is
    told anything."""

    channels: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    def channels_for(self, kind: str) -> tuple[str, ...]:
        """The channels a rule sends ``kind`` to, in the order the rules name them."""
        out: dict[str, None] = {}
        for rule in self.rules:
            if kind in rule.events:
                out.update(dict.fromkeys(rule.to))
        return tuple(out)

    def url(self, channel: str, env: Mapping[str, str] | None = None) -> str | None:
        """The channel's URL, from the environment (None when it is not set)."""
        variable = self.channels.get(channel)
        value = (os.environ if env is None else env).get(variable or "")
        return value.strip() if value and value.strip() else None


NONE = NotifyConfig()


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(1024 * 1024)
    except OSError as exc:
        raise ConfigError(f"SHIFTSWITCH_NOTIFY: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"SHIFTSWITCH_NOTIFY: {path} is not UTF-8 text") from None


def load_config(path: str | None) -> NotifyConfig:
    """The configuration in the file at ``path`` (None: no notifications); a problem is one
    :class:`~shiftswitch.settings.ConfigError` naming the file, the line and the fix."""
    if not path:
        return NONE
    text = _read(path)
    try:
        doc = load(text)
    except RosterError as exc:
        first = exc.problems[0]
        raise ConfigError(f"{path}:{first.line or 1}: {first.message}") from None
    root = doc.root if isinstance(doc.root, dict) else None

    def bad(place: tuple[str | int, ...], why: str) -> ConfigError:
        where = ".".join(str(p) for p in place)
        return ConfigError(f"{path}:{doc.line(place) or 1}: {where}: {why}")

    if root is None or set(root) - {"channels", "rules"}:
        raise ConfigError(f"{path}: expected a mapping with channels and rules")
    channels: dict[str, str] = {}
    raw_channels = root.get("channels") or {}
    if not isinstance(raw_channels, dict):
        raise bad(("channels",), "expected a mapping of channel names")
    for name, body in raw_channels.items():
        variable = body.get("url_env") if isinstance(body, dict) else None
        if not isinstance(body, dict) or set(body) != {"url_env"}:
            raise bad(("channels", name), "expected {url_env: VARIABLE}: the URL comes from "
                      "the environment, never from the file")  # fmt: skip
        if not isinstance(variable, str) or not variable.replace("_", "").isalnum():
            raise bad(("channels", name, "url_env"), "expected an environment variable's name")
        channels[name] = variable
    rules: list[Rule] = []
    raw_rules = root.get("rules") or []
    if not isinstance(raw_rules, list):
        raise bad(("rules",), "expected a list of rules")
    for i, body in enumerate(raw_rules):
        if not isinstance(body, dict) or not {"events", "to"} <= set(body) or set(body) - {
            "events", "to", "before",
        }:  # fmt: skip
            raise bad(
                ("rules", i), "expected {events: [...], to: [...]} (and before: for reminders)"
            )
        events, to = body["events"], body["to"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise bad(("rules", i, "events"), "expected a list of event kinds")
        for kind in events:
            if kind not in KINDS - {"test"}:
                raise bad(("rules", i, "events"), f"unknown event {kind!r}; the events are "
                          f"{', '.join(sorted(KINDS - {'test'}))}")  # fmt: skip
        if not isinstance(to, list) or not to or not all(isinstance(c, str) for c in to):
            raise bad(("rules", i, "to"), "expected a list of channel names")
        for channel in to:
            if channel not in channels:
                raise bad(("rules", i, "to"), f"unknown channel {channel!r}; the channels are "
                          f"{', '.join(channels) or 'none'}")  # fmt: skip
        before = None
        if "before" in body:
            before = parse_duration(str(body["before"]))
            if before is None:
                raise bad(
                    ("rules", i, "before"), f"{body['before']!r} is not a duration such as 10m"
                )
        rules.append(Rule(frozenset(events), tuple(to), before))  # type: ignore[arg-type]
    return NotifyConfig(channels, tuple(rules))
