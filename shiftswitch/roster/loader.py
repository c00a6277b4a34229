"""Reading a roster file into a :class:`~shiftswitch.roster.model.Roster` (README: Roster format).

:func:`parse_roster` turns YAML text into an immutable roster, or raises
:class:`~shiftswitch.problems.RosterError` listing every problem with its place. It checks the
shape, each section and the names they share (an agent's account, a shift's members); each
single value is read by :mod:`shiftswitch.roster.fields`, and the dated sections (assignments,
overrides) by :mod:`shiftswitch.roster.dated_sections`. Rules that need time (conflicts
between shifts) live in :mod:`shiftswitch.planning.validation`, which builds on this.
"""

from __future__ import annotations

import os
from datetime import timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from shiftswitch.hosts import REGIONS, AllowedHosts
from shiftswitch.pacing import parse_rate
from shiftswitch.problems import Place, Problem, RosterError, format_path, quote
from shiftswitch.roster.dated_sections import DatedReader
from shiftswitch.roster.fields import CREDENTIALS_HERE, join, names_credential
from shiftswitch.roster.limits import LIMITS, Limits, too_large
from shiftswitch.roster.model import (
    ACCOUNT_NAME,
    DEFAULT_RATE_LIMIT,
    EMAIL,
    NAME,
    Account,
    Agent,
    Assignment,
    Device,
    Member,
    Override,
    Roster,
    Shift,
)
from shiftswitch.roster.plain import AGENT_KEYS, AGENT_REQUIRED, Refs, plain_agent, plain_members
from shiftswitch.roster.yamldoc import Document, Value, load


def read_text(path: str, limits: Limits = LIMITS) -> str:
    """The text of the roster file at ``path``; a file that cannot be read, or is larger than
    ``limits`` allow, is a RosterError (told before it is read)."""
    try:
        with open(path, encoding="utf-8") as fh:
            problem = too_large(os.fstat(fh.fileno()).st_size, limits)
            if problem is None:
                # A file that grows, or a device with no end, is cut just past the limit.
                text = fh.read(limits.bytes + 1)
                problem = too_large(len(text), limits)
    except (OSError, UnicodeDecodeError) as exc:
        reason = (
            f"{exc.strerror} (check the file named, or SHIFTSWITCH_ROSTER)"
            if isinstance(exc, OSError)
            else "not UTF-8 text"
        )
        raise RosterError([Problem((), f"cannot read roster: {reason}")], path) from None
    if problem is not None:
        raise RosterError([problem], path)
    return text


def parse_roster(text: str, hosts: AllowedHosts | None = None) -> Roster:
    """Parse a roster document; raise :class:`RosterError` with every problem found.

    ``hosts``: where an account's ``base_url`` may point (default: Exotel's regions and
    ``SHIFTSWITCH_ALLOWED_BASE_URLS``)."""
    return parse_document(text, hosts)[0]


def parse_document(text: str, hosts: AllowedHosts | None = None) -> tuple[Roster, Document]:
    """Like :func:`parse_roster`, also returning the document (for the lines of later problems)."""
    doc = load(text)
    return _Parser(doc, hosts or AllowedHosts.from_env()).roster(), doc


class _Parser(DatedReader):
    """Walks the document once, section by section, collecting every problem."""

    def __init__(self, doc: Document, hosts: AllowedHosts) -> None:
        super().__init__(doc)
        self.hosts = hosts

    def roster(self) -> Roster:
        root = self.mapping(
            self.doc.root, (), "a mapping with version, timezone, accounts, agents, shifts"
        )
        if root is None:
            raise RosterError(self.problems)
        self.keys(
            root,
            (),
            {"version", "timezone", "accounts", "agents", "shifts", "assignments", "overrides"},
            # A roster of dated assignments alone needs no cron shifts.
            {"version", "timezone", "accounts", "agents"}
            | (set() if "assignments" in root else {"shifts"}),
        )
        version = root.get("version")
        if "version" in root and version != "1":
            self.error(
                ("version",), f"unsupported version {quote(version)}; this release reads version: 1"
            )
        zone = self.zone(root["timezone"], ("timezone",)) if "timezone" in root else None
        # A missing section was reported above; parse what is there, so as to report the rest.
        accounts = self.accounts(root["accounts"]) if "accounts" in root else {}
        agents = self.agents(root["agents"], accounts) if "agents" in root else {}
        shifts = self.shifts(root["shifts"], agents, zone) if "shifts" in root else []
        assignments = self.assignments(root.get("assignments"), agents, zone)
        overrides = self.overrides(root.get("overrides"), agents, zone)
        self.unused_agents(agents, shifts, overrides, assignments)
        if self.problems or zone is None:
            raise RosterError(self.problems)
        return Roster(
            version=1,
            zone=zone,
            accounts=MappingProxyType(accounts),
            agents=MappingProxyType(agents),
            shifts=tuple(shifts),
            overrides=tuple(overrides),
            warnings=tuple(self.warnings),
            assignments=tuple(assignments),
        )

    def accounts(self, value: Value) -> dict[str, Account]:
        path: Place = ("accounts",)
        section = self.mapping(value, path, "a mapping of account name to its settings")
        out: dict[str, Account] = {}
        for name, body in (section or {}).items():
            here = (*path, name)
            if not ACCOUNT_NAME.match(name):
                self.error(
                    here,
                    f"account name {quote(name)} must be letters, digits and _ "
                    "(it names the EXOTEL_<ACCOUNT>_API_KEY variable)",
                )
                continue
            fields = self.mapping(body, here, "sid and region (or base_url)")
            if fields is None:
                continue
            self.keys(fields, here, {"sid", "region", "base_url", "rate_limit", "ramp"}, {"sid"})
            sid = (
                self.text(fields.get("sid"), (*here, "sid"), "the Exotel account SID")
                if "sid" in fields
                else None
            )
            region = fields.get("region")
            base_url: str | None = None
            if region is not None:
                region_name = self.text(region, (*here, "region"), "singapore or mumbai")
                if region_name is not None and region_name.lower() not in REGIONS:
                    self.error(
                        (*here, "region"),
                        f"unknown region {quote(region_name)}; "
                        "use singapore or mumbai, or set base_url",
                    )
                elif region_name is not None:
                    base_url = REGIONS[region_name.lower()]
                    region = region_name.lower()
            if "base_url" in fields:
                base_url = self.base_url(fields["base_url"], (*here, "base_url"))
                if base_url is not None and not self.hosts.allows(base_url):
                    self.error((*here, "base_url"), self.hosts.refusal(base_url))
                    base_url = None
            elif region is None:
                self.error(here, "give region (singapore or mumbai) or base_url")
            rate = (
                self.rate(fields["rate_limit"], (*here, "rate_limit"))
                if "rate_limit" in fields
                else parse_rate(DEFAULT_RATE_LIMIT)
            )
            ramp = self.ramp(fields["ramp"], (*here, "ramp")) if "ramp" in fields else None
            if sid and base_url and rate:
                out[name] = Account(
                    name,
                    sid,
                    base_url.rstrip("/"),
                    region if isinstance(region, str) else None,
                    rate,
                    ramp,
                )
        return out

    def agents(self, value: Value, accounts: dict[str, Account]) -> dict[str, Agent]:
        path: Place = ("agents",)
        section = self.mapping(value, path, "a mapping of agent name to account and devices")
        out: dict[str, Agent] = {}
        seen_refs: Refs = {}
        for name, body in (section or {}).items():
            plain = plain_agent(name, body, accounts, seen_refs)
            if plain is not None:
                out[name] = plain
                continue
            here = (*path, name)
            if not NAME.match(name):
                self.error(
                    here, f"agent name {quote(name)} may use letters, digits and . _ @ - only"
                )
                continue
            fields = self.mapping(body, here, "account and devices")
            if fields is None:
                continue
            self.keys(fields, here, AGENT_KEYS, AGENT_REQUIRED)
            account = (
                self.text(fields.get("account"), (*here, "account"), "an account name")
                if "account" in fields
                else None
            )
            if account is not None and account not in accounts and not self.account_named(account):
                self.error(
                    (*here, "account"),
                    f"unknown account {quote(account)}; defined: {join(accounts)}",
                )
            user_id = fields.get("user_id")
            if user_id is not None:
                user_id = self.text(user_id, (*here, "user_id"), "an Exotel user id")
            devices = (
                self.devices(fields.get("devices"), (*here, "devices"))
                if "devices" in fields
                else {}
            )
            if user_id is None and any(d.kind == "id" for d in devices.values()):
                self.error(
                    (*here, "user_id"),
                    "needed when a device is given by device id "
                    "(only contact URIs can be looked up)",
                )
            for device in devices.values():
                key = (account or "", device.ref.lower())
                if key in seen_refs:
                    first, first_device = seen_refs[key]
                    self.error(
                        (*here, "devices", device.name),
                        f"device {device.ref} is also "
                        + format_path((*path, first, "devices", first_device)),
                    )
                else:
                    seen_refs[key] = (name, device.name)
            contact = None
            if "contact" in fields:
                contact = self.text(fields["contact"], (*here, "contact"), "an e-mail address")
                if contact is not None and not EMAIL.match(contact):
                    self.error((*here, "contact"), f"{quote(contact)} is not an e-mail address")
                    contact = None
            if account is not None and devices:
                out[name] = Agent(name, account, user_id, MappingProxyType(devices), contact)
        return out

    def account_named(self, name: str) -> bool:
        # An account that failed its own checks was already reported; do not report it twice.
        return self.declared("accounts", name)

    def devices(self, value: Value, path: Place) -> dict[str, Device]:
        section = self.mapping(value, path, "a mapping of device name to device id or contact URI")
        if section is not None and not section:
            self.error(path, "an agent needs at least one device")
        out: dict[str, Device] = {}
        for name, ref in (section or {}).items():
            here = (*path, name)
            if names_credential(name):
                self.error(here, CREDENTIALS_HERE)
                continue
            if not NAME.match(name):
                self.error(
                    here, f"device name {quote(name)} may use letters, digits and . _ @ - only"
                )
                continue
            found = self.device_ref(ref, here)
            if found is not None:
                out[name] = Device(name, *found)
        return out

    def shifts(
        self, value: Value, agents: dict[str, Agent], default_zone: ZoneInfo | None
    ) -> list[Shift]:
        out: list[Shift] = []
        names: dict[str, int] = {}
        for i, here, fields in self.entries(
            value,
            ("shifts",),
            "a shift with name, start, duration or end, members",
            {"name", "start", "duration", "end", "timezone", "skip_dates", "members", "ramp"},
            {"name", "start", "members"},
        ):
            ok = True
            name = (
                self.text(fields.get("name"), (*here, "name"), "a shift name")
                if "name" in fields
                else None
            )
            if name is not None:
                if name in names:
                    self.error(
                        (*here, "name"),
                        f"duplicate shift name {quote(name)} (also shifts[{names[name]}])",
                    )
                    ok = False
                names.setdefault(name, i)
            zone = default_zone
            if "timezone" in fields:
                zone = self.zone(fields["timezone"], (*here, "timezone"))
            start = self.cron(fields.get("start"), (*here, "start")) if "start" in fields else None
            duration: timedelta | None = None
            end: str | None = None
            if ("duration" in fields) == ("end" in fields):
                self.error(here, "give exactly one of duration (elapsed, e.g. 9h) or end (a cron)")
                ok = False
            elif "duration" in fields:
                duration = self.duration(fields["duration"], (*here, "duration"))
                ok = ok and duration is not None
            else:
                end = self.cron(fields["end"], (*here, "end"))
                ok = ok and end is not None
            skip = self.skip_dates(fields.get("skip_dates"), (*here, "skip_dates"))
            members = (
                self.members(fields.get("members"), (*here, "members"), agents)
                if "members" in fields
                else None
            )
            ramp = self.ramp(fields["ramp"], (*here, "ramp")) if "ramp" in fields else None
            if ok and name and zone and start and members is not None and skip is not None:
                out.append(Shift(i, name, start, duration, end, zone, skip, members, ramp))
        return out

    def members(
        self, value: Value, path: Place, agents: dict[str, Agent]
    ) -> tuple[Member, ...] | None:
        if not isinstance(value, list):
            self.error(path, 'expected a list such as ["asha:desk", "ravi"]')
            return None
        plain = plain_members(value, agents)
        if plain is not None:
            return plain
        out: list[Member] = []
        seen: set[str] = set()
        ok = True
        for j, item in enumerate(value):
            here = (*path, j)
            raw = self.text(item, here, "agent or agent:device")
            if raw is None:
                ok = False
                continue
            member = self.member(raw, here, agents)
            if member is None:
                ok = False
            elif member.agent in seen:
                self.error(here, f"agent {quote(member.agent)} is listed twice in this shift")
                ok = False
            else:
                seen.add(member.agent)
                out.append(member)
        return tuple(out) if ok else None

    def member(self, raw: str, path: Place, agents: dict[str, Agent]) -> Member | None:
        agent_name, _, device_name = raw.partition(":")
        agent_name, device_name = agent_name.strip(), device_name.strip()
        agent = agents.get(agent_name)
        if agent is None:
            if not self.agent_named(agent_name):
                self.error(path, f"unknown agent {quote(agent_name)}")
            return None
        if not device_name:
            if len(agent.devices) != 1:
                choices = " or ".join(f"{agent_name}:{d}" for d in agent.devices)
                self.error(
                    path,
                    f"agent {quote(agent_name)} has {len(agent.devices)} devices; "
                    f"name one: {choices}",
                )
                return None
            device_name = next(iter(agent.devices))
        elif device_name not in agent.devices:
            if self.declared_device(agent_name, device_name):
                return None  # the device itself is wrong, and was reported where it is defined
            self.error(
                path,
                f"unknown device {quote(device_name)} of agent {quote(agent_name)}; "
                f"it has {join(agent.devices)}",
            )
            return None
        return Member(agent_name, device_name)

    def unused_agents(
        self,
        agents: dict[str, Agent],
        shifts: list[Shift],
        overrides: list[Override],
        assignments: list[Assignment],
    ) -> None:
        used = {m.agent for s in shifts for m in s.members} | {o.agent for o in overrides}
        used |= {a.agent for a in assignments}
        for name in agents:
            if name not in used:
                self.warn(
                    ("agents", name),
                    "in no shift, assignment or override: its devices will be kept OFF",
                )
