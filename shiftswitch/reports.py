"""What the CLI shows of the results tables: on-demand actions, status and history (README:
Commands)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shiftswitch.actions import ActionStore
from shiftswitch.advice import advise
from shiftswitch.models import (
    Action,
    ActionKind,
    RemoteCheck,
    Status,
)
from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.queries import (
    RECENT,
    devices_on,
    holds_not_over,
    last_full_check,
    on_by_account,
    open_counts,
    open_outages,
    pauses_in_force,
    recent_failures,
    recent_findings,
    unknown_devices,
)
from shiftswitch.roster.model import Roster


def action_row(a: Action) -> dict[str, Any]:
    """An action as ``history --json`` and ``device --wait --json`` print it."""
    return {
        "id": a.id,
        "key": a.key,
        "source": a.source,
        "status": a.status,
        "account": a.account,
        "agent": a.agent,
        "device": a.device,
        "user_id": a.user_id,
        "device_id": a.device_id,
        "available": a.wants_on,
        "kind": a.kind,
        "new_contact_uri": a.new_contact_uri,
        "shift": a.shift,
        "override": a.override,
        "due_at": iso(a.due_at),
        "boundary_at": iso(a.boundary_at),  # a ramped ON: the shift start it serves
        "enqueued_at": iso(a.enqueued_at),
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
        "attempts": a.attempts,
        "http_code": a.last_http_code,
        "error_code": a.error_code,
        "error_description": a.error_description,
        "request_id": a.request_id,
        "reason": a.reason,
        "advice": _advice(a),
    }


def _advice(a: Action) -> dict[str, str] | None:
    """A refusal of Exotel's in plain words and the next step (README: When a switch fails)."""
    if a.status not in (Status.FAILED, Status.BLOCKED):
        return None
    found = advise(a.last_http_code, a.error_description or a.reason)
    return None if found is None else {"words": found.words, "next": found.next}


def change(kind: str, available: bool, new_contact_uri: str | None) -> str:
    """What an action does, for tables: ON, OFF, or the number it sets."""
    if kind == ActionKind.NUMBER:
        return f"number {new_contact_uri}"
    return "ON" if available else "OFF"


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def status(
    store: ActionStore,
    roster: Roster,
    now: datetime,
    upcoming: int = 10,
    ahead: Sequence[Transition] | None = None,
    *,
    summary: bool = False,
    on_page: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Who is ON now, what is next, what is under way, and recent failures. ``ahead``: the
    roster's transitions of the next 24 hours from ``now``, when the caller has them.

    ``on`` lists every device ON; ``on_count`` and ``on_by_account`` count them. With
    ``summary``, ``on`` is left out (the answer stays a few kilobytes however large the
    floor); with ``on_page`` (limit, offset), ``on`` is that page of the list."""
    with store.sessions() as session:
        if summary:
            on = []
            by_account = on_by_account(session)
        elif on_page is not None:
            on = devices_on(session, *on_page)
            by_account = on_by_account(session)
        else:
            on = devices_on(session)
            by_account = dict(sorted(Counter(row[0] for row in on).items()))
        counts = open_counts(session)
        failures = recent_failures(session, now, 20)
        # The last check of every managed device (a drift check, or ``reconcile --remote``),
        # and the reads of unknown devices since (read-backs, first reads).
        remote = last_full_check(session)
        reads = recent_findings(session, now, 20)
        unknown = unknown_devices(session)
        pauses = pauses_in_force(session)
        holds = holds_not_over(session, now)
        down = open_outages(session)
    if ahead is None:
        ahead = Planner(roster).transitions(now, now + RECENT)
    ahead = ahead[:upcoming]
    listed: dict[str, Any] = {} if summary else {"on": _on_rows(on)}
    return {
        "at": iso(now),
        **listed,
        "on_count": sum(by_account.values()),
        "on_by_account": by_account,
        "next": [t.as_json() for t in ahead],
        "open": counts,
        "failures": [action_row(a) for a in failures],
        "paused": [
            {"account": p.account, "since": iso(p.paused_at), "by": p.paused_by} for p in pauses
        ],
        "exotel_down": [
            {
                "account": o.account,
                "since": iso(o.started_at),
                "error": o.error,
                "probes": o.probes,
                "probed_at": iso(o.probed_at),
                "probe_error": o.probe_error,
            }
            for o in down
        ],
        "holds": [
            {
                "id": h.id,
                "agent": h.agent,
                "device": h.device,
                "available": h.available,
                "until": iso(h.until),
                "by": h.created_by,
                "reason": h.reason,
            }
            for h in holds
        ],
        "remote": None if remote is None else _check(remote),
        "reads": [_check(r) for r in reads],
        "unknown": unknown,
    }


def _on_rows(on: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "account": account,
            "agent": agent,
            "device": device,
            "user_id": user_id,
            "device_id": device_id,
            "since": iso(since),
            "action_id": action_id,
        }
        # Unpacked: a row's fields by name cost more than the rest of each entry.
        for account, agent, device, user_id, device_id, since, action_id in on
    ]


def _check(check: RemoteCheck) -> dict[str, Any]:
    return {
        "at": iso(check.at),
        "kind": check.kind,
        "devices": check.devices,
        "reads": check.reads,
        "drifted": check.drifted,
        "findings": check.findings,
    }
