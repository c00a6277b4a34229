"""What shiftswitch knows explains a difference between planned and confirmed time (README:
Reports): holds (and by whom), pauses, failed and blocked switches, in words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shiftswitch.adherence.figures import Cause
from shiftswitch.models import Action, ActionKind, Hold, Pause, Status


def explaining(
    session: Session,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    accounts: dict[str, str],
    devices: set[tuple[str, str]],
    scope: set[str] | None,
) -> dict[tuple[str, str], list[Cause]]:
    """What explains differences, per (agent, device): holds, failed and blocked switches in
    ``[start, end)``, and pauses, of the account of each of ``devices``."""

    def hm(at: datetime) -> str:
        local = at.astimezone(zone)
        return (
            f"{local:%H:%M}"
            if local.date() == start.astimezone(zone).date()
            else (f"{local:%m-%d %H:%M}")
        )

    out: dict[tuple[str, str], list[Cause]] = {}
    holds = select(Hold).where(Hold.starts_at < end, Hold.until > start)
    if scope is not None:
        holds = holds.where(Hold.agent.in_(scope))
    for h in session.scalars(holds):
        state = "ON" if h.available else "OFF"
        text = f"held {state} by {h.created_by} {hm(h.starts_at)} to {hm(h.until)}" + (
            f" ({h.reason})" if h.reason else ""
        )
        out.setdefault((h.agent, h.device), []).append(Cause(h.starts_at, h.until, text))
    actions = select(
        Action.agent, Action.device, Action.status, Action.due_at, Action.finished_at,
        Action.reason, Action.error_code, Action.error_description, Action.last_http_code,
        Action.wants_on,
    ).where(
        Action.due_at >= start, Action.due_at < end, Action.kind == ActionKind.SWITCH,
        Action.status.in_((Status.FAILED, Status.BLOCKED)), Action.agent.is_not(None),
    )  # fmt: skip
    if scope is not None:
        actions = actions.where(Action.agent.in_(scope))
    for (
        agent,
        device,
        status,
        due,
        finished,
        reason,
        code,
        description,
        http,
        wants_on,
    ) in session.execute(actions):
        verb = "ON" if wants_on else "OFF"
        why = reason or _exotel(code, description, http) or status
        text = f"{verb} {status} at {hm(due)}: {why}"
        out.setdefault((str(agent), str(device)), []).append(Cause(due, finished or due, text))
    pauses = select(Pause).where(
        Pause.paused_at < end, or_(Pause.resumed_at.is_(None), Pause.resumed_at > start)
    )
    paused = list(session.scalars(pauses))
    if paused:
        for p in paused:
            until = p.resumed_at or end
            text = f"paused by {p.paused_by} {hm(p.paused_at)} to " + (
                hm(p.resumed_at) if p.resumed_at else "now"
            )
            for agent, device in devices | set(out):
                if p.account is None or accounts.get(agent) == p.account:
                    out.setdefault((agent, device), []).append(Cause(p.paused_at, until, text))
    return out


def _exotel(code: str | None, description: str | None, http: int | None) -> str | None:
    if not (code or description):
        return None
    said = " ".join(x for x in (code, description) if x)
    return f"Exotel {said}" + (f" (HTTP {http})" if http else "")
