"""Small roster builders for tests: YAML text from a few Python values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Roster

DEFAULT_AGENTS: Mapping[str, Mapping[str, str]] = {
    "asha": {"desk": "100280", "mobile": "+919953125068"},
    "ravi": {"desk": "100281"},
}


def roster_text(
    shifts: Sequence[Mapping[str, object]],
    *,
    timezone: str = "UTC",
    agents: Mapping[str, Mapping[str, str]] = DEFAULT_AGENTS,
    overrides: Sequence[Mapping[str, object]] = (),
    account: Mapping[str, str] | None = None,
    assignments: Sequence[Mapping[str, object]] = (),
) -> str:
    """A roster document with one account (``account``: more of its keys, e.g. a ramp); values
    are written as JSON, which YAML reads."""
    main = {"sid": "acme", "base_url": "http://127.0.0.1:8090", **(account or {})}
    lines = [
        "version: 1",
        f"timezone: {timezone}",
        "accounts:",
        f"  main: {json.dumps(main)}",
        "agents:",
    ]
    for i, (name, devices) in enumerate(agents.items()):
        lines.append(f"  {name}: {{account: main, user_id: u-{i}, devices: {json.dumps(devices)}}}")
    lines.append("shifts:" if shifts else "shifts: []")
    lines.extend(f"  - {json.dumps(shift)}" for shift in shifts)
    if assignments:
        lines.append("assignments:")
        lines.extend(f"  - {json.dumps(a)}" for a in assignments)
    if overrides:
        lines.append("overrides:")
        lines.extend(f"  - {json.dumps(o)}" for o in overrides)
    return "\n".join(lines) + "\n"


def make_roster(shifts: Sequence[Mapping[str, object]], **kwargs: object) -> Roster:
    return parse_roster(roster_text(shifts, **kwargs))  # type: ignore[arg-type]


def brief(t: Transition) -> str:
    """``2026-03-08T07:00Z asha:desk ON weekday`` — one transition, as the tables write it."""
    source = t.shift or t.override
    return f"{t.at:%Y-%m-%dT%H:%M}Z {t.agent}:{t.device} {'ON' if t.available else 'OFF'} {source}"


def utc(text: str) -> datetime:
    """``2026-03-08T07:00Z`` as an aware datetime."""
    return datetime.fromisoformat(text)
