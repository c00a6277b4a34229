"""The sandbox's accounts, users and devices, as the seed gives them and the rules change them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shiftswitch.pacing import RateLimit

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# How an account's rate limit counts: "window", at most N requests in any window of its length
# (a sliding window); "strict", no request closer than 1/rate to the last one let through, as
# nginx's limit_req with no burst.
RATE_MODES = ("window", "strict")


class SeedError(Exception):
    """A seed the sandbox cannot use. The message is one line that names the place."""


@dataclass(slots=True)
class Device:
    """A device as Exotel holds it. ``id`` keeps its seed type (a number stays a number)."""

    id: int | str
    name: str
    contact_uri: str
    type: str  # "tel" (PSTN number) or "sip" (soft-phone)
    verified: bool
    available: bool | None  # None while unverified, as Exotel reports it

    def as_json(self) -> dict[str, Any]:
        """The device as the API returns it."""
        return {
            "id": self.id,
            "name": self.name,
            "contact_uri": self.contact_uri,
            "type": self.type,
            "available": self.available,
            "verified": self.verified,
            "status": "free" if self.verified else None,
        }


@dataclass(slots=True)
class User:
    """A user and their devices, in seed order."""

    id: str
    first_name: str
    last_name: str | None
    email: str | None
    devices: list[Device]

    def device(self, device_id: str) -> Device | None:
        """The device whose id, compared as a string, is ``device_id``."""
        return next((d for d in self.devices if str(d.id) == device_id), None)

    def as_json(self, *, devices: bool = True) -> dict[str, Any]:
        """The user as the API returns it; ``devices`` only when asked for (``fields=devices``)."""
        out: dict[str, Any] = {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
        }
        if devices:
            out["devices"] = [d.as_json() for d in self.devices]
        return out


@dataclass(slots=True)
class Account:
    """An Exotel account. The token is left out of ``repr`` so that it cannot reach a log."""

    sid: str
    api_key: str
    api_token: str = field(repr=False)
    rate_limit: RateLimit | None
    users: list[User]
    rate_mode: str = "window"  # one of RATE_MODES
    by_id: dict[str, User] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # An index, for accounts of 10,000 users: each request looks its user up.
        self.by_id = {u.id: u for u in self.users}

    def add(self, user: User) -> None:
        """Append a user (seed order is the order the API lists users in)."""
        self.users.append(user)
        self.by_id[user.id] = user

    def user(self, user_id: str) -> User | None:
        """The user with id ``user_id``, or None."""
        return self.by_id.get(user_id)


@dataclass(frozen=True, slots=True)
class Seed:
    """The accounts a sandbox starts from, and returns to on reset. Never changed by it."""

    accounts: Mapping[str, Account]

    def fresh(self) -> dict[str, Account]:
        """A copy of the accounts that the sandbox may change."""
        # Built field by field: copy.deepcopy takes half a second for 10,000 users.
        return {
            sid: Account(
                a.sid,
                a.api_key,
                a.api_token,
                a.rate_limit,
                [
                    User(u.id, u.first_name, u.last_name, u.email, [_copy(d) for d in u.devices])
                    for u in a.users
                ],
                a.rate_mode,
            )
            for sid, a in self.accounts.items()
        }


def _copy(d: Device) -> Device:
    return Device(d.id, d.name, d.contact_uri, d.type, d.verified, d.available)
