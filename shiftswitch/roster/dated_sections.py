"""The roster's dated entries (README: Roster format): ``assignments`` (dated shifts and
breaks) and ``overrides``, each read with its agent, device, zone and instants, and every
problem collected with its place. :class:`DatedReader` is the part of the roster's reader
(:mod:`shiftswitch.roster.loader`) that reads them."""

from __future__ import annotations

from itertools import pairwise
from zoneinfo import ZoneInfo

from shiftswitch.problems import Place, quote
from shiftswitch.roster.fields import FieldReader, join
from shiftswitch.roster.model import Agent, Assignment, Override
from shiftswitch.roster.yamldoc import Value


class DatedReader(FieldReader):
    """Reads the dated sections of a roster document, beside the sections they name."""

    def assignments(
        self, value: Value, agents: dict[str, Agent], default_zone: ZoneInfo | None
    ) -> list[Assignment]:
        """Dated shifts: ``device`` ON from ``from`` to ``to``; with ``off: true``, a break
        inside the agent's work (``device`` OFF, or every device when none is named)."""
        if value is None:
            return []
        out: list[Assignment] = []
        for i, here, fields in self.entries(
            value,
            ("assignments",),
            "an assignment with agent, device, from, to (and off: true for a break)",
            {"agent", "device", "off", "from", "to", "timezone", "shift", "activity"},
            {"agent", "from", "to"},
        ):
            zone = self.zone_of(fields, here, default_zone)
            agent = self.agent_of(fields, here, agents)
            off = self.flag(fields.get("off"), (*here, "off"))
            ok = agent is not None and off is not None
            device_name: str | None = None
            if agent is not None and (fields.get("device") is not None or not off):
                device_name = self.device_of(fields, here, agent, "or off: true for a break")
                ok = ok and device_name is not None
            labels = {}
            for key in ("shift", "activity"):
                if key in fields:
                    labels[key] = self.text(fields[key], (*here, key), f"a {key} label")
                    ok = ok and labels[key] is not None
            start = self.instant(fields.get("from"), (*here, "from"), zone, end=False)
            end = self.instant(fields.get("to"), (*here, "to"), zone, end=True)
            if start and end and end <= start:
                self.error((*here, "to"), "must be after from")
                ok = False
            if ok and agent and zone and start and end:
                out.append(
                    Assignment(
                        i,
                        agent.name,
                        device_name,
                        start,
                        end,
                        zone,
                        bool(off),
                        labels.get("shift"),
                        labels.get("activity"),
                    )
                )
        return out

    def zone_of(
        self, fields: dict[str, Value], here: Place, default: ZoneInfo | None
    ) -> ZoneInfo | None:
        """An entry's own ``timezone``, else the roster's."""
        if "timezone" in fields:
            return self.zone(fields["timezone"], (*here, "timezone"))
        return default

    def agent_of(
        self, fields: dict[str, Value], here: Place, agents: dict[str, Agent]
    ) -> Agent | None:
        """The agent an entry names (an unknown one is reported)."""
        name = (
            self.text(fields.get("agent"), (*here, "agent"), "an agent name")
            if "agent" in fields
            else None
        )
        agent = agents.get(name or "")
        if name is not None and agent is None and not self.agent_named(name):
            self.error((*here, "agent"), f"unknown agent {quote(name)}")
        return agent

    def device_of(
        self, fields: dict[str, Value], here: Place, agent: Agent, otherwise: str
    ) -> str | None:
        """The device of ``agent`` an entry names, or its only device when it names none;
        None (reported) when it names none and the agent has several, or names an unknown one.
        ``otherwise``: what else the entry could give, for the problem."""
        device = fields.get("device")
        if device is None:
            if len(agent.devices) == 1:
                return next(iter(agent.devices))
            self.error(here, f"give device ({' or '.join(agent.devices)}) {otherwise}")
            return None
        name = self.text(device, (*here, "device"), "a device name")
        if name is not None and self.declared_device(agent.name, name):
            return name if name in agent.devices else None
        if name is not None and name not in agent.devices:
            self.error(
                (*here, "device"),
                f"unknown device {quote(name)} of agent {quote(agent.name)}; "
                f"it has {join(agent.devices)}",
            )
            return None
        return name

    def overrides(
        self, value: Value, agents: dict[str, Agent], default_zone: ZoneInfo | None
    ) -> list[Override]:
        if value is None:
            return []
        out: list[Override] = []
        for i, here, fields in self.entries(
            value,
            ("overrides",),
            "an override with agent, device or off, from, to",
            {"agent", "device", "off", "from", "to", "timezone", "reason"},
            {"agent", "from", "to"},
        ):
            zone = self.zone_of(fields, here, default_zone)
            agent = self.agent_of(fields, here, agents)
            off = self.flag(fields.get("off"), (*here, "off"))
            device_name: str | None = None
            ok = agent is not None and off is not None
            if off and fields.get("device") is not None:
                self.error(here, "give device (ON on that device) or off: true (all OFF), not both")
                ok = False
            elif not off and agent is not None:
                device_name = self.device_of(fields, here, agent, "or off: true")
                ok = ok and device_name is not None
            start = self.instant(fields.get("from"), (*here, "from"), zone, end=False)
            end = self.instant(fields.get("to"), (*here, "to"), zone, end=True)
            if start and end and end <= start:
                self.error((*here, "to"), "must be after from")
                ok = False
            reason = None
            if "reason" in fields:
                reason = self.reason(fields["reason"], (*here, "reason"))
                ok = ok and reason is not None
            if ok and agent and zone and start and end:
                out.append(Override(i, agent.name, device_name, start, end, zone, reason=reason))
        self.overlapping_overrides(out)
        return out

    def overlapping_overrides(self, overrides: list[Override]) -> None:
        by_agent: dict[str, list[Override]] = {}
        for o in overrides:
            by_agent.setdefault(o.agent, []).append(o)
        for items in by_agent.values():
            items.sort(key=lambda o: o.start)
            for a, b in pairwise(items):
                if b.start < a.end:
                    self.error(
                        ("overrides", b.index),
                        f"overlaps {a.label} for agent {quote(a.agent)} from "
                        f"{b.start.astimezone(b.zone).isoformat()}; "
                        "an agent's overrides must not overlap",
                    )
