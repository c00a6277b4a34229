"""What changes between two rosters: by section and name, and in the transitions ahead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.dump import duration, local_time
from shiftswitch.roster.model import Assignment, Override, Roster

SHOWN = 4  # names listed in a summary before "and N more"


@dataclass(frozen=True, slots=True)
class SectionDiff:
    section: str  # "accounts", "agents", "shifts", "overrides"
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    # What changed in each changed name: "members +ravi -meera; duration 9h -> 8h".
    details: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        parts = [
            f"{sign}{len(names)} ({_names(names)})"
            for sign, names in (("+", self.added), ("-", self.removed), ("~", self.changed))
            if names
        ]
        return f"{self.section} {' '.join(parts)}"


@dataclass(frozen=True, slots=True)
class RosterDiff:
    sections: tuple[SectionDiff, ...] = ()
    timezone: tuple[str, str] | None = None
    first: bool = False  # nothing was stored before

    @classmethod
    def between(cls, before: Roster | None, after: Roster) -> RosterDiff:
        dated: tuple[SectionDiff, ...] = ()
        if before is None:
            if after.assignments:
                names = tuple(assignment_name(a) for a in after.assignments)
                dated = (SectionDiff("assignments", names),)
            return cls(
                (
                    SectionDiff("accounts", tuple(after.accounts)),
                    SectionDiff("agents", tuple(after.agents)),
                    SectionDiff("shifts", tuple(s.name for s in after.shifts)),
                    *dated,
                    SectionDiff("overrides", tuple(override_name(o) for o in after.overrides)),
                ),
                first=True,
            )
        if before.assignments or after.assignments:
            dated = (
                _by_name(
                    "assignments",
                    {assignment_name(a): None for a in before.assignments},
                    {assignment_name(a): None for a in after.assignments},
                ),
            )
        zone = None
        if before.zone.key != after.zone.key:
            zone = (before.zone.key, after.zone.key)
        return cls(
            (
                _by_name("accounts", before.accounts, after.accounts),
                _by_name("agents", before.agents, after.agents),
                _by_name(
                    "shifts",
                    {s.name: replace(s, index=0) for s in before.shifts},
                    {s.name: replace(s, index=0) for s in after.shifts},
                ),
                *dated,
                _by_name(
                    "overrides",
                    {override_name(o): None for o in before.overrides},
                    {override_name(o): None for o in after.overrides},
                ),
            ),
            zone,
        )

    def __bool__(self) -> bool:
        return self.first or self.timezone is not None or any(self.sections)

    def summary(self) -> str:
        """One line: ``shifts +1 (night) ~1 (day); overrides -1 (ravi off ...)``."""
        if not self:
            return "no change"
        parts = [s.summary() for s in self.sections if s]
        if self.timezone:
            parts.insert(0, f"timezone {self.timezone[0]} -> {self.timezone[1]}")
        text = "; ".join(parts)
        return f"first roster: {text}" if self.first else text

    def lines(self) -> list[str]:
        """Each name added (+), removed (-) or changed (~), a line each, by section."""
        out = []
        if self.timezone:
            out.append(f"~ timezone: {self.timezone[0]} -> {self.timezone[1]}")
        for s in self.sections:
            for sign, names in (("+", s.added), ("-", s.removed)):
                out += [f"{sign} {s.section[:-1]} {name}" for name in names]
            for name in s.changed:
                detail = s.details.get(name)
                out.append(f"~ {s.section[:-1]} {name}" + (f": {detail}" if detail else ""))
        return out


def override_name(o: Override) -> str:
    what = o.device if o.device is not None else "off"
    return f"{o.agent} {what} {local_time(o.start, o.zone)} to {local_time(o.end, o.zone)}"


def assignment_name(a: Assignment) -> str:
    """``asha desk 2026-12-07T09:00+05:30 to 2026-12-07T17:30+05:30 (early)``; a break says
    ``off`` (and its device, if it names one) and its activity."""
    what = (f"off {a.device}" if a.device else "off") if a.off else a.device or ""
    label = a.activity if a.off else a.shift
    bounds = f"{_local(a.start, a.zone)} to {_local(a.end, a.zone)}"
    return f"{a.agent} {what} {bounds}" + (f" ({label})" if label else "")


# A month of assignments repeats a few thousand instants: each written once.
_local = lru_cache(maxsize=1 << 16)(local_time)


def transition_changes(
    before: Roster | None, after: Roster, start: datetime, end: datetime
) -> tuple[list[Transition], list[Transition]]:
    """The transitions in [start, end) that ``after`` adds, and those it removes."""

    def plan(roster: Roster | None) -> dict[tuple[object, ...], Transition]:
        if roster is None:
            return {}
        return {_identity(t): t for t in Planner(roster).transitions(start, end)}

    old, new = plan(before), plan(after)
    added = [t for k, t in new.items() if k not in old]
    removed = [t for k, t in old.items() if k not in new]
    return added, removed


def _identity(t: Transition) -> tuple[object, ...]:
    return (t.at, t.account, t.agent, t.device, t.available)


def _by_name(
    section: str, before: Mapping[str, object], after: Mapping[str, object]
) -> SectionDiff:
    changed = tuple(n for n in after if n in before and before[n] != after[n])
    return SectionDiff(
        section,
        tuple(n for n in after if n not in before),
        tuple(n for n in before if n not in after),
        changed,
        MappingProxyType({n: _changes(before[n], after[n]) for n in changed}),
    )


def _changes(before: object, after: object) -> str:
    """The fields of a roster entry that differ: ``members +ravi; duration 9h -> 8h``."""
    if not (is_dataclass(before) and is_dataclass(after)):
        return ""
    out = []
    for f in fields(before):
        old, new = getattr(before, f.name), getattr(after, f.name)
        if f.name in ("index", "name") or old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):  # an agent's devices
            out += [f"{f.name} +{k} {_shown(new[k])}" for k in new if k not in old]
            out += [f"{f.name} -{k}" for k in old if k not in new]
            out += [
                f"{f.name}.{k} {_shown(old[k])} -> {_shown(new[k])}"
                for k in new
                if k in old and old[k] != new[k]
            ]
        elif isinstance(old, tuple | frozenset) and isinstance(new, tuple | frozenset):
            was, now = [_shown(v) for v in _ordered(old)], [_shown(v) for v in _ordered(new)]
            moved = [f"+{v}" for v in now if v not in was] + [f"-{v}" for v in was if v not in now]
            out.append(f"{f.name} {' '.join(moved) or 'reordered'}")
        else:
            out.append(f"{f.name} {_shown(old)} -> {_shown(new)}")
    return "; ".join(out)


def _ordered(values: tuple[object, ...] | frozenset[object]) -> list[object]:
    return sorted(values, key=str) if isinstance(values, frozenset) else list(values)


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, ZoneInfo):
        return value.key
    if is_dataclass(value) and hasattr(value, "ref"):  # a device
        return str(value.ref)
    return str(value)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
