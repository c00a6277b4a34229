"""What a message says (README: Notifications): its title, the first ten events of its kind
with agent, device and why, how many in all, a link to the console, and its delivery key.
Pure: the events in, the text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SHOWN = 10

TITLES = {
    "switch_failed": "switches failed",
    "boundary_late": "boundaries late",
    "drift": "devices drifted",
    "unknown": "devices unknown",
    "no_worker": "no worker alive",
    "no_scheduler": "no scheduler leading",
    "roster_refused": "roster edits refused",
    "rate_limited": "rate limited by Exotel",
    "exotel_down": "Exotel down",
    "shift_reminder": "shift reminders",
    "shift_changed": "shifts changed",
    "recovered": "recovered",
    "test": "test messages",
}
PAGES = {"switch_failed": "/operations", "no_worker": "/operations", "no_scheduler": "/operations"}


def message(
    kind: str,
    events: Sequence[Mapping[str, Any]],
    total: int,
    key: str,
    public_url: str | None,
) -> tuple[str, str]:
    """(title, body) of a message carrying ``total`` events of ``kind``, the first of which
    are ``events``."""
    what = TITLES.get(kind, kind)
    title = f"shiftswitch: {what}" if total == 1 else f"shiftswitch: {total} {what}"
    if kind == "shift_reminder" and events:
        title = f"Your shift starts at {str(events[0].get('local', '?')).split(' on ')[0]}"
    if kind == "shift_changed":
        title = "Your shifts in the next 48 hours changed"
    lines = [line(kind, e) for e in events[:SHOWN]]
    if total > len(lines):
        lines.append(f"... and {total - len(lines)} more")
    if public_url:
        lines.append(f"{public_url.rstrip('/')}{PAGES.get(kind, '/notifications')}")
    lines.append(f"(delivery {key})")
    return title, "\n".join(lines)


def line(kind: str, e: Mapping[str, Any]) -> str:
    """One event, in a line."""
    who = " ".join(str(e[k]) for k in ("agent", "device") if e.get(k))
    why = e.get("why") or ""
    if kind == "switch_failed":
        state = "ON" if e.get("on") else "OFF"
        return f"{who} {state}: {e.get('status', 'failed')}{', ' + why if why else ''}"
    if kind == "recovered":
        of = TITLES.get(str(e.get("of")), e.get("of"))
        return f"{of} ({e.get('subject')}): cleared, open since {e.get('since')}"
    if kind == "shift_reminder":
        shift = (
            f" {e['shift']}"
            if e.get("shift") and not str(e["shift"]).startswith(("assignments[", "assignment "))
            else ""
        )
        return f"Your shift{shift} starts at {e.get('local')}, on your {e.get('device')}."
    if kind == "shift_changed":
        return f"{str(why)[0:1].upper()}{str(why)[1:]}."
    if kind == "test":
        return "A test message from shiftswitch: this channel works."
    subject = e.get("subject") or e.get("account") or ""
    return " ".join(p for p in (who, str(subject), why) if p) or kind
