"""Who may use the HTTP API and the web console (README: HTTP API): users with passwords, API
tokens, browser sessions, their roles, and the throttle on failed logins. No web framework here: the
API maps these to HTTP, and ``shiftswitch users`` / ``shiftswitch tokens`` manage them."""

from __future__ import annotations

from shiftswitch.access.roles import AccessError, Principal, Role, parse_role, permits
from shiftswitch.access.store import SESSION_TTL, AccessStore, SessionInfo, TokenRow, UserRow
from shiftswitch.access.throttle import LoginThrottle

__all__ = [
    "SESSION_TTL",
    "AccessError",
    "AccessStore",
    "LoginThrottle",
    "Principal",
    "Role",
    "SessionInfo",
    "TokenRow",
    "UserRow",
    "parse_role",
    "permits",
]
