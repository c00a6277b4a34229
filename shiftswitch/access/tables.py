"""The tables of the HTTP API's users, tokens and browser sessions (README: HTTP API).

No column holds a secret: a password is kept as its argon2 hash, a token, a session and a CSRF
token as their SHA-256 digests. A token keeps its first characters (``prefix``), which tell
tokens apart in ``tokens list`` and give nothing away.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shiftswitch.access.roles import Role
from shiftswitch.models import Base, BigId, UtcDateTime

_ROLES = ", ".join(f"'{r}'" for r in sorted(Role))
ROLE_CHECK = f"role IN ({_ROLES})"


class ApiUser(Base):
    """Someone who signs in to the console (or to the API with a password)."""

    __tablename__ = "api_users"
    __table_args__ = (CheckConstraint(ROLE_CHECK, name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its parameters
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(Text)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """A bearer token for the API. Revoked tokens stay, with their names, for the record."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(ROLE_CHECK, name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token, hex
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: never
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # to the minute


class ApiSession(Base):
    """A console login: the browser's cookie holds the secret whose digest is ``digest``."""

    __tablename__ = "api_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the cookie's secret
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("api_users.id", ondelete="CASCADE"), index=True
    )
    csrf_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the session's CSRF token
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CalendarKey(Base):
    """An agent's calendar key: read-only access to that agent's calendar feed, one per agent
    (a new key replaces, and so revokes, the old)."""

    __tablename__ = "calendar_keys"

    agent: Mapped[str] = mapped_column(Text, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the key, hex
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(Text)
