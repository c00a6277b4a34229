"""A transition: one device of one agent switched ON or OFF at an instant, as the planner
(:mod:`shiftswitch.planning.planner`) makes them and everything after it reads them."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo


class Transition(NamedTuple):
    """One device of one agent switched ON or OFF at instant ``at`` (UTC)."""

    # The fields a switch of a shift shares with every agent of the shift come first, then
    # the agent's own: a plan makes each transition by joining the two (Planner._transitions).
    at: datetime
    available: bool
    shift: str | None
    override: str | None
    zone: ZoneInfo
    # For an ON moved earlier by a ramp, the shift start it serves (``at`` is then before it).
    boundary: datetime | None
    agent: str
    account: str
    user_id: str | None
    device: str
    device_id: str | None
    contact_uri: str | None

    @property
    def local(self) -> datetime:
        """``at`` in the zone of the shift (or override) that caused it."""
        return self.at.astimezone(self.zone)

    @property
    def key(self) -> str:
        """Stable identity: the same roster and instant always give the same key."""
        state = "on" if self.available else "off"
        instant = self.boundary or self.at  # a ramp moves the switch, not its identity
        return f"{self.account}/{self.agent}/{self.device}/{instant.isoformat()}/{state}"

    def as_json(self) -> dict[str, object]:
        ramp = {} if self.boundary is None else {"boundary": _z(self.boundary)}
        return {
            "at": _z(self.at),
            "local": self.local.isoformat(),
            "agent": self.agent,
            "account": self.account,
            "user_id": self.user_id,
            "device": self.device,
            "device_id": self.device_id,
            "contact_uri": self.contact_uri,
            "available": self.available,
            "shift": self.shift,
            "override": self.override,
            **ramp,
        }


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
