"""What the console's routes share: the roster in force (or why there is none, said on the page
rather than as an error). The plans they draw are kept with it (``svc.roster.plans``)."""

from __future__ import annotations

from shiftswitch.api.deps import Services
from shiftswitch.operations import Refused
from shiftswitch.roster.model import Roster


def roster_or_notice(svc: Services) -> tuple[Roster | None, str]:
    """The roster in force, or None and one line saying why there is none."""
    try:
        return svc.current_roster(), ""
    except Refused as exc:
        return None, str(exc)


def version_in_force(svc: Services) -> int | None:
    """The number of the roster version in force: the one the roster tables hold, or for a
    roster file the last the scheduler recorded (None: none recorded yet)."""
    store = svc.ops.roster_store()
    if svc.ops.settings.roster_source == "db":
        return store.current_version()
    return store.last_version()
