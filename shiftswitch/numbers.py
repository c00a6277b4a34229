"""Changing a device's number: Exotel's ``contact_uri``, the device PUT's other field (README:
Commands).

A new number takes effect at once: Exotel stops routing calls to the old number, and routes
none to the new one until the device is verified again (Exotel then reports it unverified, with
``available`` null). Exotel refuses ``contact_uri`` and ``available`` in one request, so a
number change is an action of its own (kind ``number``), applied by the worker in the user's
order like a switch. What the command line and the worker share about it is here: the check of
the number, the action, what Exotel's refusals mean, and what the database learns from a change.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, Table, delete

from shiftswitch.actions import NewAction, for_device
from shiftswitch.db import upsert
from shiftswitch.exotel import Outcome
from shiftswitch.manual import manual_key, roster_device
from shiftswitch.models import ActionKind, ResolvedDevice, Source
from shiftswitch.problems import Refused, quote
from shiftswitch.roster.model import Roster, classify_device

PSTN_ONLY = "Exotel changes the number only of phone (PSTN) devices"
_SEPARATORS = re.compile(r"[\s().-]")
RESOLVED: Table = ResolvedDevice.__table__  # type: ignore[assignment]  # the contact-URI cache


def number_problem(number: str) -> str | None:
    """Why ``number`` cannot be a device's number, naming the fix; None when it is E.164."""
    if classify_device(number) == "tel":
        return None
    compact = _SEPARATORS.sub("", number)
    if compact.startswith("00"):  # the international prefix of many countries
        compact = "+" + compact[2:]
    if classify_device(compact) == "tel":
        return f"NUMBER {quote(number)} is not in E.164 format: write it as {compact}"
    return (
        f"NUMBER {quote(number)} is not a phone number in E.164 format: write '+', the country "
        "code and the number, without spaces, such as +919953125068"
    )


def number_action(roster: Roster, agent: str, device: str, number: str, now: datetime) -> NewAction:
    """The ``manual`` action that gives ``agent``'s ``device`` the number ``number`` (E.164,
    checked by :func:`number_problem`); raise :class:`Refused` (a usage error) for a device the
    roster shows cannot take it."""
    name = roster_device(roster, agent, device)
    ref = roster.agents[agent].devices[name]
    if ref.kind == "sip":
        raise Refused(
            f"{agent} {name} is a SIP soft-phone in the roster ({ref.ref}); {PSTN_ONLY}",
            usage=True,
        )
    if ref.contact_uri == number:
        raise Refused(
            f"{agent} {name} has the number {number} already; nothing to change", usage=True
        )
    action = for_device(
        roster,
        agent,
        name,
        False,  # never sent: it orders the change like an OFF among the user's actions
        key=manual_key("number"),
        source=Source.MANUAL,
        due_at=now,
    )
    return replace(action, kind=ActionKind.NUMBER, new_contact_uri=number)


def refused(outcome: Outcome, number: str, sid: str) -> str:
    """An action's reason when Exotel refused to give a device ``number``: what it means for
    the user first (by HTTP status, then description), then what Exotel said."""
    said = outcome.summary()
    if outcome.http_code == 409:
        return (
            f"{number} is already the number of another device in Exotel account {sid}; "
            f"choose another number (Exotel: {said})"
        )
    if outcome.http_code == 403 and "pstn" in (outcome.description or "").lower():
        return f"{PSTN_ONLY}; this one is a SIP soft-phone (Exotel: {said})"
    return f"Exotel refused: {said}"


def number_changed(
    conn: Connection,
    *,
    account: str,
    user_id: str,
    device_id: str,
    new: str,
    at: datetime,
) -> None:
    """Record that Exotel now knows device ``device_id`` of ``user_id`` by ``new``.

    Called by the worker in the transaction that records the change's success (which also
    records the device's new number and unverified state in ``device_states``). The
    contact-URI cache maps ``new`` to the device and forgets the numbers it held for the
    device before, so that the next switches of a device given by ``new`` go to it without a
    lookup, and a roster still giving the old number is looked up again rather than sent to a
    device that no longer has that number. A roster kept in the database follows the change
    in a transaction of its own, just before (:func:`~shiftswitch.sources.store.renumber`);
    a roster file is its owner's to edit (the CLI says which entry).
    """
    conn.execute(
        delete(RESOLVED).where(
            RESOLVED.c.account == account,
            RESOLVED.c.user_id == user_id,
            RESOLVED.c.device_id == device_id,
            RESOLVED.c.contact_uri != new,
        )
    )
    remember_resolved(
        conn, account=account, contact_uri=new, user_id=user_id, device_id=device_id, at=at
    )


def remember_resolved(
    conn: Connection, *, account: str, contact_uri: str, user_id: str, device_id: str, at: datetime
) -> None:
    """The contact-URI cache maps ``contact_uri`` of ``account`` to (``user_id``,
    ``device_id``) from ``at`` on, in ``conn``'s transaction."""
    stmt = upsert(conn.engine, RESOLVED)
    keys = ("account", "contact_uri")
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c.name: stmt.excluded[c.name] for c in RESOLVED.c if c.name not in keys},
        ),
        {
            "account": account,
            "contact_uri": contact_uri,
            "user_id": user_id,
            "device_id": device_id,
            "resolved_at": at,
        },
    )


def renumber_source(agent: str | None, device: str | None, action_id: int) -> str:
    """The source of the stored roster's version that follows a number change."""
    return f"device set-number {agent} {device} (action {action_id})"


# -- what the user is told ----------------------------------------------------------------------


def before(action: NewAction) -> str:
    """The warning printed before a change is recorded."""
    was = action.contact_uri or f"device {action.device_id}"
    return (
        f"warning: {action.agent} {action.device} ({was}) gets the number "
        f"{action.new_contact_uri}: Exotel stops routing calls to the old number at once, and "
        "routes none to the new one until the device is verified again"
    )


def after(action: NewAction, *, done: bool) -> str:
    """The reminder printed once a change succeeded (``done``), or is queued."""
    who = f"{action.agent} {action.device}"
    if done:
        return (
            f"{who} now has the number {action.new_contact_uri} and is unverified: Exotel "
            "routes calls to it again once it is verified"
        )
    return (
        f"once it succeeds, {who} is unverified until verified again "
        f"('shiftswitch history {action.agent}' shows the result)"
    )


def roster_edit(action: NewAction, roster_path: str, line: int | None, *, done: bool) -> str | None:
    """What to change in the roster file when it gives the device by its old number; None
    when it gives the device id, which stays the same."""
    if action.contact_uri is None:
        return None
    where = f"{roster_path}:{line}" if line else roster_path
    entry = f"agents.{action.agent}.devices.{action.device}"
    return (
        f"{'' if done else 'once it succeeds, '}change {entry} in {where} from "
        f'"{action.contact_uri}" to "{action.new_contact_uri}": until then, switches of '
        f"{action.agent} {action.device} look for the old number and fail"
    )
