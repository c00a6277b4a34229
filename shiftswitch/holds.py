"""What ops set by hand, beside the roster: holds and pauses.

- A **hold** (``device on|off ... --until T``) keeps a device as a manual action left it until
  ``T``: the scheduler sends nothing that would undo it, reconciles towards it, and at ``T``
  reconciles to what the roster wants then. A hold ON keeps the agent's other devices OFF (one
  device ON at a time); a hold OFF keeps only that device OFF. A new hold on a device, or a
  manual action on it without ``--until``, ends the one before.
- A **pause** (``shiftswitch pause [--account A]``) stops sending: actions are still recorded,
  and stay ``pending``; workers leave alone what was already queued. ``resume`` supersedes what
  was recorded meanwhile, and the scheduler reconciles: the present state is applied once, not
  each switch missed.

Each edit raises its counter in ``changes`` in the same transaction; the scheduler compares
the counters each tick and so sees an edit within a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Exists

from shiftswitch import audit
from shiftswitch.models import Action, Change, Hold, Pause, Status
from shiftswitch.planning.transitions import Transition
from shiftswitch.queries import pauses_in_force
from shiftswitch.roster.model import Roster


@dataclass(frozen=True, slots=True)
class ActiveHold:
    id: int
    account: str
    agent: str
    device: str
    available: bool
    starts_at: datetime
    until: datetime

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.until


class Holds:
    """The holds in force, as the scheduler applies them."""

    def __init__(self, holds: Iterable[ActiveHold] = ()) -> None:
        self.items = sorted(holds, key=lambda h: (h.starts_at, h.id))

    def __bool__(self) -> bool:
        return bool(self.items)

    def next_end(self, now: datetime) -> datetime | None:
        return min((h.until for h in self.items if h.until > now), default=None)

    def blocks(self, t: Transition) -> bool:
        """Whether a planned transition would undo a hold in force at its instant."""
        for h in self.items:
            if h.agent != t.agent or not h.covers(t.at):
                continue
            if h.available or (t.device == h.device and t.available):
                return True  # a hold ON owns the agent; a hold OFF, its device's ONs
        return False

    def overlay(self, desired: dict[str, str | None], at: datetime) -> dict[str, str | None]:
        """The roster's desired device per agent at ``at``, as the holds in force change it."""
        held = [h for h in self.items if h.covers(at)]
        if not held:
            return desired
        out = dict(desired)
        for h in held:
            if not h.available and out.get(h.agent) == h.device:
                out[h.agent] = None
        for h in held:
            if h.available:
                out[h.agent] = h.device
        return out


def ahead_with_holds(
    ahead: Sequence[Transition],
    holds: Iterable[Hold],
    roster: Roster,
    desired: Callable[[str, datetime], str | None],
    now: datetime,
    ends_before: datetime | None = None,
) -> list[Transition]:
    """The changes ahead as they will happen: the roster's ``ahead``, less those a hold in
    force keeps from happening, and at each hold's end (before ``ends_before``, if given) the
    change back to what the roster wants then (``desired(agent, at)``: the roster's device for
    ``agent`` at ``at``; None: none)."""
    held = [h for h in holds if h.until > now and h.agent in roster.agents]
    if not held:
        return list(ahead)
    active = Holds(
        ActiveHold(h.id, h.account, h.agent, h.device, h.available, h.starts_at, h.until)
        for h in held
    )
    # Kept from happening: what would undo a hold, and (moot) the OFF of a device held OFF.
    out = [
        t
        for t in ahead
        if not active.blocks(t)
        and not any(
            h.agent == t.agent and h.device == t.device and not h.available and h.covers(t.at)
            for h in active.items
        )
    ]
    for h in held:
        if ends_before is not None and h.until >= ends_before:
            continue
        wanted = desired(h.agent, h.until)
        if h.available and wanted != h.device:
            out.append(_back(roster, h, h.device, False))
            if wanted is not None:
                out.append(_back(roster, h, wanted, True))
        elif not h.available and wanted == h.device:
            out.append(_back(roster, h, h.device, True))
    return sorted(out, key=lambda t: (t.at, t.available))


def _back(roster: Roster, hold: Hold, device: str, on: bool) -> Transition:
    """The switch at ``hold``'s end that gives ``device`` back to the roster."""
    agent = roster.agents[hold.agent]
    found = agent.devices.get(device)
    return Transition(
        at=hold.until, agent=hold.agent, account=agent.account, user_id=agent.user_id,
        device=device, device_id=found.device_id if found else None,
        contact_uri=found.contact_uri if found else None, available=on,
        shift=f"end of hold by {hold.created_by}", override=None, zone=roster.zone, boundary=None,
    )  # fmt: skip


def bump(session: Session, name: str) -> None:
    """Raise an edit counter, in the caller's transaction (and take its row's lock)."""
    session.execute(update(Change).where(Change.name == name).values(serial=Change.serial + 1))


def paused_condition(account: Any) -> Exists:
    """SQL: a pause in force covers ``account`` (a column or a value)."""
    return exists().where(
        Pause.resumed_at.is_(None), or_(Pause.account.is_(None), Pause.account == account)
    )


class Controls:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def serials(self) -> dict[str, int]:
        """The edit counters (roster, holds, pauses): one small read, made every tick."""
        with self.engine.connect() as conn:
            return {
                name: serial for name, serial in conn.execute(select(Change.name, Change.serial))
            }

    # -- holds ------------------------------------------------------------------------------

    def holds(self, now: datetime) -> Holds:
        """The holds not yet over at ``now``."""
        with self.sessions() as session:
            rows = session.scalars(
                select(Hold).where(Hold.until > now, Hold.starts_at < Hold.until)
            )
            return Holds(
                ActiveHold(h.id, h.account, h.agent, h.device, h.available, h.starts_at, h.until)
                for h in rows
            )

    def hold(
        self,
        *,
        account: str,
        agent: str,
        device: str,
        available: bool,
        now: datetime,
        until: datetime | None,
        by: str,
        action_id: int | None,
        reason: str | None = None,
    ) -> Hold | None:
        """Record a manual action's hold until ``until`` (None: no hold; only end the one
        before). Returns the new hold."""
        with self.sessions.begin() as session:
            bump(session, "holds")
            self.end_holds(session, agent, device if not available else None, now)
            state = "ON" if available else "OFF"
            audit.record(
                session, who=by, what="device on" if available else "device off", at=now,
                target=f"{agent} {device}",
                after=(f"{state} until {until:%Y-%m-%d %H:%M}Z (held)" if until else state)
                + (f": {reason}" if reason else ""),
            )  # fmt: skip
            if until is None:
                return None
            hold = Hold(
                account=account,
                agent=agent,
                device=device,
                available=available,
                starts_at=now,
                until=until,
                created_by=by,
                action_id=action_id,
                reason=reason,
            )
            session.add(hold)
        return hold

    @staticmethod
    def end_holds(session: Session, agent: str, device: str | None, now: datetime) -> int:
        """End at ``now`` the agent's holds in force on ``device`` (None: on any of its
        devices, as a new ON of the agent does) and its holds ON."""
        on_device = Hold.device == device if device is not None else Hold.id.is_not(None)
        result = session.execute(
            update(Hold)
            .where(
                Hold.agent == agent,
                Hold.until > now,
                or_(on_device, Hold.available.is_(True)),
            )
            .values(until=now)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]

    # -- pauses -----------------------------------------------------------------------------

    def pauses(self) -> list[Pause]:
        """The pauses in force."""
        with self.sessions() as session:
            return pauses_in_force(session)

    def pause(self, account: str | None, by: str, now: datetime) -> Pause | None:
        """Pause ``account`` (None: all); None when a pause in force covers it already."""
        with self.sessions.begin() as session:
            bump(session, "pauses")  # also the lock: two pauses at once run one after the other
            if session.scalar(select(paused_condition(account))):
                return None
            pause = Pause(account=account, paused_at=now, paused_by=by)
            session.add(pause)
            audit.record(session, who=by, what="pause", at=now, target=account or "every account")
        return pause

    def resume(self, account: str | None, by: str, now: datetime) -> tuple[list[Pause], int]:
        """End the pauses of ``account`` (None: every pause). Returns them, and how many
        actions recorded while they lasted were superseded."""
        with self.sessions.begin() as session:
            bump(session, "pauses")
            which = Pause.resumed_at.is_(None)
            if account is not None:
                which = and_(which, Pause.account == account)  # type: ignore[assignment]
            ended = list(session.scalars(select(Pause).where(which)))
            for p in ended:
                p.resumed_at, p.resumed_by = now, by
            if ended:
                audit.record(session, who=by, what="resume", at=now,
                             target=account or "every account")  # fmt: skip
            session.flush()
            superseded = 0
            if ended:
                # What was held back and no pause covers any more is superseded: the
                # scheduler reconciles to the present state instead of sending each in turn.
                scope = (
                    Action.id.is_not(None)
                    if any(p.account is None for p in ended)
                    else Action.account.in_({p.account for p in ended})
                )
                result = session.execute(
                    update(Action)
                    .where(
                        Action.status == Status.PENDING,
                        Action.created_at < now,
                        scope,
                        ~paused_condition(Action.account),
                    )
                    .values(
                        status=Status.SUPERSEDED,
                        finished_at=now,
                        reason="not sent while sending was paused; on resume the present "
                        "state is reconciled instead",
                    ),
                    execution_options={"synchronize_session": False},
                )
                superseded = result.rowcount or 0  # type: ignore[attr-defined]
        return ended, superseded
