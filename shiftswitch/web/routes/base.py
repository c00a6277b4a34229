"""What the console's routes share: the plans kept by the application, and the roster in force
(or why there is none, said on the page rather than as an error)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from shiftswitch.api.deps import Services
from shiftswitch.operations import Refused
from shiftswitch.roster.model import Roster
from shiftswitch.web.plans import PlanCache


@dataclass
class Console:
    """Kept by the application for the life of the server."""

    plans: PlanCache = field(default_factory=PlanCache)


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def roster_or_notice(svc: Services) -> tuple[Roster | None, str]:
    """The roster in force, or None and one line saying why there is none."""
    try:
        return svc.current_roster(), ""
    except Refused as exc:
        return None, str(exc)
