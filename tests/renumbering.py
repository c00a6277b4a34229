"""The call centre of the ``device set-number`` tests: its agents, devices and numbers."""

from __future__ import annotations

from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Roster
from tests.pipeline import roster_yaml, user

OLD, NEW = "+919953125068", "+919953125077"
RAVIS = "+919953125002"  # a number another device of the account has
ASHA = user("u-100", ("100280", "Desk", "+919953125001"), ("100290", "Mobile", OLD))
RAVI = user("u-101", ("100281", "Desk", RAVIS))  # not in the roster
MEERA = user("u-102", ("100282", "Softphone", "sip:meera.k"))
AGENTS = {
    "asha": ("u-100", {"desk": "100280", "mobile": OLD}),
    "meera": ("u-102", {"soft": "100282"}),  # a device id, which is a SIP device in Exotel
    "kiran": ("u-103", {"app": "sip:kiran.p"}),
}
SHIFTS = [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}]


def roster_at(base_url: str) -> str:
    return roster_yaml(base_url, AGENTS, SHIFTS)


def roster(base_url: str = "http://127.0.0.1:8090") -> Roster:
    return parse_roster(roster_at(base_url))
