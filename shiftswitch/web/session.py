"""Who is using the console, and what they may do: the session behind the cookie (the API's
sessions, users and roles), the CSRF token every form carries, and the role each change needs.

A page without a valid session sends the browser to the login page; a change refused for the
role (or a form without the session's CSRF token) is a 403 page. The pages hide what a role may
not do, and the server refuses it anyway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request

from shiftswitch.access import Principal, Role
from shiftswitch.api.deps import Services, services, session_of


class SignIn(Exception):
    """No valid session: log in, then come back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next = next_path

    @property
    def location(self) -> str:
        return f"/login?next={quote(self.next, safe='/?=&')}"


class Denied(Exception):
    """Refused for the role, or for a form without the session's CSRF token (403)."""


@dataclass(frozen=True, slots=True)
class Signed:
    """A console user with a valid session, and the session's CSRF token for its forms."""

    principal: Principal
    csrf: str

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> Role:
        return self.principal.role

    def may(self, needed: Role | str) -> bool:
        return self.principal.may(Role(needed))


def signed(request: Request) -> Signed:
    """The session's user (a dependency of every page)."""
    info = session_of(request)
    if info is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignIn(path if request.method == "GET" else "/")
    return Signed(info.principal, info.csrf_token)


def require(who: Signed, needed: Role, token: str | None) -> None:
    """Refuse a change without the session's CSRF token, or by a role below ``needed``."""
    if not token or not secrets.compare_digest(who.csrf.encode(), token.encode()):
        raise Denied("missing or wrong CSRF token: reload the page and try again")
    if not who.principal.may(needed):
        raise Denied(f"{who.name} has the role {who.role}; this needs {needed} or above")


def may(needed: Role) -> Any:
    """A dependency for a form's handler: the session's user, with its CSRF token checked and
    the role ``needed``."""

    def dependency(
        request: Request,
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> Signed:
        who = signed(request)
        require(who, needed, csrf_token or request.headers.get("X-CSRF-Token"))
        return who

    return Depends(dependency)


Svc = Annotated[Services, Depends(services)]
Who = Annotated[Signed, Depends(signed)]
operator = may(Role.OPERATOR)
admin = may(Role.ADMIN)
