"""A deterministic, realistic roster for benchmarks (README: Roster format).

``generate(agents, seed)`` returns YAML text with ``agents`` agents, 200 shifts in three time
zones (Asia/Kolkata, Europe/London, America/New_York) and two accounts:

- shifts of several kinds per zone: weekday day shifts, weekday evening shifts (some with an
  ``end:`` cron), weekend shifts, night shifts that cross midnight, and mid-day shifts; most use
  ``duration:``, some have ``skip_dates``;
- every agent is in one or two shifts of its own zone; about 10% of agents have two devices (a
  desk device id and a mobile ``+91...`` number) and work a day shift on the desk and an evening
  shift on the mobile, which never overlap, so the roster is valid (no agent ON on two devices
  at once);
- a handful of overrides (at most one per agent, so they never overlap): leave (``off: true``)
  and one-off device swaps.

Run as a script: ``python benchmarks/gen_roster.py --agents 10000 [--seed 1] [-o FILE]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field

SHIFTS = 200
ZONES = ("Asia/Kolkata", "Europe/London", "America/New_York")
_ZONE_TAG = {"Asia/Kolkata": "in", "Europe/London": "uk", "America/New_York": "us"}
# India runs on the mumbai account; the UK and US sites share the global one.
_ACCOUNT_OF_ZONE = {
    "Asia/Kolkata": "india",
    "Europe/London": "global",
    "America/New_York": "global",
}
_HOLIDAYS = ("2026-12-25", "2026-12-26", "2027-01-01")

# Kinds of shift, with their share of the shifts of a zone.
_KINDS: tuple[tuple[str, float], ...] = (
    ("day", 0.35),  # weekday, starts 06:00-09:30, ends by 17:30
    ("evening", 0.25),  # weekday, starts 18:00-19:30, ends by 23:30
    ("mid", 0.15),  # weekday or six-day, 11:00-20:00 or so
    ("weekend", 0.15),  # sat,sun daytime
    ("night", 0.10),  # crosses midnight
)


@dataclass(slots=True)
class _Shift:
    name: str
    kind: str
    zone: str
    start: str
    duration: str | None = None
    end: str | None = None
    skip_dates: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


def _hm(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    return f"{h}h{m}m" if m else f"{h}h"


def _make_shift(rnd: random.Random, name: str, kind: str, zone: str) -> _Shift:
    """One shift of ``kind``; day and evening shifts stay within their bands, so a day shift and
    an evening shift of the same zone never overlap."""
    if kind == "day":
        start = rnd.choice(range(6 * 60, 9 * 60 + 31, 30))
        length = rnd.choice(range(6 * 60, min(9 * 60, 17 * 60 + 30 - start) + 1, 30))
        days = rnd.choice(("mon-fri", "mon-fri", "mon-fri", "mon-sat"))
        shift = _Shift(name, kind, zone, f"{start % 60} {start // 60} * * {days}", _hm(length))
    elif kind == "evening":
        start = rnd.choice(range(18 * 60, 19 * 60 + 31, 30))
        finish = rnd.choice(range(start + 3 * 60, 23 * 60 + 31, 30))
        days = rnd.choice(("mon-fri", "mon-fri", "mon-sat"))
        cron = f"{start % 60} {start // 60} * * {days}"
        if rnd.random() < 0.4:  # wall-clock end, the next firing after each start
            shift = _Shift(name, kind, zone, cron, end=f"{finish % 60} {finish // 60} * * {days}")
        else:
            shift = _Shift(name, kind, zone, cron, _hm(finish - start))
    elif kind == "mid":
        start = rnd.choice(range(10 * 60, 13 * 60 + 1, 30))
        days = rnd.choice(("mon-fri", "tue-sat", "mon-sat"))
        shift = _Shift(
            name, kind, zone, f"{start % 60} {start // 60} * * {days}", _hm(rnd.choice((480, 540)))
        )
    elif kind == "weekend":
        start = rnd.choice(range(8 * 60, 12 * 60 + 1, 60))
        days = rnd.choice(("sat,sun", "sat", "sun"))
        shift = _Shift(
            name, kind, zone, f"0 {start // 60} * * {days}", _hm(rnd.choice((360, 420, 480)))
        )
    else:  # night: 21:00-23:00 start, 8-9h, ends the next morning
        hour = rnd.choice((21, 22, 23))
        days = rnd.choice(("sun-thu", "mon-fri"))
        if rnd.random() < 0.3:
            end_days = "mon-fri" if days == "sun-thu" else "tue-sat"
            end_hour = (hour + 8) % 24
            shift = _Shift(
                name, kind, zone, f"0 {hour} * * {days}", end=f"0 {end_hour} * * {end_days}"
            )
        else:
            shift = _Shift(name, kind, zone, f"0 {hour} * * {days}", _hm(rnd.choice((480, 540))))
    if rnd.random() < 0.3:
        shift.skip_dates = sorted(rnd.sample(_HOLIDAYS, rnd.randint(1, 2)))
    return shift


def _shifts(rnd: random.Random) -> list[_Shift]:
    out: list[_Shift] = []
    for z, zone in enumerate(ZONES):
        count = SHIFTS // len(ZONES) + (1 if z < SHIFTS % len(ZONES) else 0)
        kinds: list[str] = []
        for kind, share in _KINDS:
            kinds += [kind] * max(1, round(count * share))
        kinds = (kinds + ["day"] * count)[:count]
        for i, kind in enumerate(kinds):
            name = f"{_ZONE_TAG[zone]}-{kind}-{i:03d}"
            out.append(_make_shift(rnd, name, kind, zone))
    assert len(out) == SHIFTS
    return out


def _q(text: str) -> str:
    return '"' + text + '"'


_HEADER = (
    "# Generated by benchmarks/gen_roster.py: a benchmark roster, not a real one.",
    "version: 1",
    "timezone: Asia/Kolkata",
    "accounts:",
    "  india:",
    "    sid: acme_india",
    "    region: mumbai",
    "    rate_limit: 200/min",
    "  global:",
    "    sid: acme_global",
    "    region: singapore",
    "    rate_limit: 5/s",
)


def _agent_lines(
    rnd: random.Random, agents: int, shifts: list[_Shift]
) -> tuple[list[str], set[str]]:
    """The ``agents:`` section; each agent is added to the members of its shifts.

    Returns the lines and the names of the agents with two devices.
    """
    by_zone_kind: dict[tuple[str, str], list[_Shift]] = {}
    for s in shifts:
        by_zone_kind.setdefault((s.zone, s.kind), []).append(s)
    by_zone: dict[str, list[_Shift]] = {z: [s for s in shifts if s.zone == z] for z in ZONES}
    lines = ["agents:"]
    two_device: set[str] = set()
    for i in range(agents):
        name = f"agent{i:06d}"
        zone = ZONES[rnd.randrange(len(ZONES))]
        lines += [
            f"  {name}:",
            f"    account: {_ACCOUNT_OF_ZONE[zone]}",
            f'    user_id: "u-{i}"',
            "    devices:",
            f"      desk: {100000 + i}",
        ]
        if rnd.random() < 0.10:
            # Desk for a day shift, mobile for an evening shift of the same zone: the day band
            # ends by 17:30 and the evening band starts at 18:00, so they never overlap.
            lines.append(f'      mobile: "+919{i:09d}"')
            two_device.add(name)
            rnd.choice(by_zone_kind[(zone, "day")]).members.append(f"{name}:desk")
            rnd.choice(by_zone_kind[(zone, "evening")]).members.append(f"{name}:mobile")
        else:
            first = rnd.choice(by_zone[zone])
            first.members.append(name)
            if rnd.random() < 0.25:  # a second shift, same (only) device: may even overlap
                second = rnd.choice(by_zone[zone])
                if second is not first:
                    second.members.append(name)
    return lines, two_device


def _shift_lines(rnd: random.Random, shifts: list[_Shift]) -> list[str]:
    lines = ["shifts:"]
    for s in shifts:
        lines += [f"  - name: {s.name}", f"    start: {_q(s.start)}"]
        lines.append(f"    duration: {s.duration}" if s.duration else f"    end: {_q(s.end or '')}")
        if s.zone != "Asia/Kolkata" or rnd.random() < 0.5:  # Kolkata is the roster default
            lines.append(f"    timezone: {s.zone}")
        if s.skip_dates:
            lines.append(f"    skip_dates: [{', '.join(s.skip_dates)}]")
        if s.members:
            lines.append("    members:")
            lines += [f"      - {_q(m)}" for m in s.members]
        else:
            lines.append("    members: []")
    return lines


def _override_lines(rnd: random.Random, agents: int, two_device: set[str]) -> list[str]:
    """A handful of overrides, at most one per agent: leave, and one-off device swaps."""
    count = min(agents, max(5, agents // 500))
    lines = ["overrides:"]
    for n, i in enumerate(sorted(rnd.sample(range(agents), count))):
        name = f"agent{i:06d}"
        day = 8 + n % 20
        if name in two_device and n % 2 == 0:
            lines.append(
                f"  - {{agent: {name}, device: mobile, "
                f'from: "2026-12-{day:02d}T09:00", to: "2026-12-{day:02d}T13:00"}}'
            )
        elif n % 3 == 0:
            lines.append(
                f'  - {{agent: {name}, device: desk, from: "2026-12-{day:02d}T07:00", '
                f'to: "2026-12-{day:02d}T19:00"}}'
            )
        else:
            lines.append(
                f'  - {{agent: {name}, off: true, from: "2026-12-{day:02d}", '
                f'to: "2026-12-{day + 2:02d}"}}'
            )
    return lines


def generate(agents: int, seed: int = 1) -> str:
    """The YAML text of a valid roster with ``agents`` agents and 200 shifts."""
    if agents < 1:
        raise ValueError("agents must be at least 1")
    rnd = random.Random(seed)
    shifts = _shifts(rnd)
    agent_lines, two_device = _agent_lines(rnd, agents, shifts)
    lines = [
        *_HEADER,
        *agent_lines,
        *_shift_lines(rnd, shifts),
        *_override_lines(rnd, agents, two_device),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=10_000, help="number of agents (10000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = generate(args.agents, args.seed)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
