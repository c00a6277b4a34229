"""Who may do what through the HTTP API and the web console (README: HTTP API): the roles, in order,
and the principal a request acts as once its credentials are checked."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AccessError(Exception):
    """A user's mistake with users, tokens or sessions; ``str()`` is one line naming the place
    and the fix. ``status``: the HTTP status the API answers with (400 a bad value, 404 an
    unknown name, 409 a name taken or a token already revoked)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Role(enum.StrEnum):
    VIEWER = "viewer"  # reads
    OPERATOR = "operator"  # switches, holds, overrides, pause/resume, reconcile
    ADMIN = "admin"  # roster import/rollback, users, tokens


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
CHOICES = "viewer, operator or admin"


def permits(role: Role, needed: Role) -> bool:
    """Whether ``role`` may do what ``needed`` may: viewer < operator < admin."""
    return _RANK[role] >= _RANK[needed]


def parse_role(text: str) -> Role:
    """The role ``text`` names (any case); :class:`AccessError` naming the choices otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise AccessError(f"role {text.strip()[:64]!r} is not a role: choose {CHOICES}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a user (``via`` "password" or "session") or an API token
    (``via`` "token", ``name`` the token's name)."""

    name: str
    role: Role
    via: str

    @property
    def by(self) -> str:
        """Who made a change through the API, as the CLI's ``--by`` records it."""
        return f"token {self.name} (api)" if self.via == "token" else f"{self.name} (api)"

    def may(self, needed: Role) -> bool:
        return permits(self.role, needed)
