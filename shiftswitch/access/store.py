"""The one owner of the access tables: users and their passwords, API tokens, browser sessions,
agents' calendar keys.

Every method is given ``now``; the clock is the caller's. What a user can get wrong (a name
taken, an unknown name, a short password, an expiry in the past) raises :class:`AccessError`;
a credential that does not check out is ``None``, with no reason given (the caller answers 401).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from shiftswitch import audit
from shiftswitch.access import credentials
from shiftswitch.access.roles import AccessError, Principal, Role
from shiftswitch.access.tables import ApiSession, ApiToken, ApiUser, CalendarKey
from shiftswitch.models import Installation

SESSION_TTL = timedelta(hours=12)
# How stale ``last_used_at`` (and a session's ``last_seen_at``) may get before a request
# writes it again: a busy API does not write on every request.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class UserRow:
    name: str
    role: Role
    created_at: datetime
    created_by: str
    last_login_at: datetime | None

    def as_json(self) -> dict[str, object]:
        """As ``users list --json`` and ``GET /api/v1/users`` give it."""
        return {
            "name": self.name,
            "role": self.role.value,
            "created_at": _instant(self.created_at),
            "created_by": self.created_by,
            "last_login_at": _instant(self.last_login_at),
        }


@dataclass(frozen=True, slots=True)
class TokenRow:
    name: str
    role: Role
    prefix: str  # the token's first 8 characters after "ssw_"
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        """ "active", "expired" or "revoked"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_json(self, now: datetime) -> dict[str, object]:
        """As ``tokens list --json`` and ``GET /api/v1/tokens`` give it: never the token."""
        return {
            "name": self.name,
            "role": self.role.value,
            "prefix": self.prefix,
            "state": self.state(now),
            "created_at": _instant(self.created_at),
            "created_by": self.created_by,
            "expires_at": _instant(self.expires_at),
            "revoked_at": _instant(self.revoked_at),
            "last_used_at": _instant(self.last_used_at),
        }


def _instant(at: datetime | None) -> str | None:
    return None if at is None else credentials.format_instant(at)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A valid console session: who it is, until when, and its CSRF token.

    ``csrf_token`` is the value the console puts in its forms (or a header) for this session;
    :meth:`csrf_ok` checks one sent back, in constant time, against the stored digest.
    """

    principal: Principal
    expires_at: datetime
    csrf_token: str
    csrf_digest: str

    def csrf_ok(self, token: str | None) -> bool:
        if not token or len(token) > credentials.MAX_SECRET:
            return False
        return credentials.same_digest(token, self.csrf_digest)


THROTTLE_SALT = "throttle_salt"  # the name of its row in ``installation``


class AccessStore:
    """Users, API tokens and console sessions, in the database of ``engine``.

    ``hasher``: argon2's password hasher (default: argon2-cffi's recommended parameters).
    Passwords hashed with other parameters are hashed again at their next login.
    """

    def __init__(self, engine: Engine, *, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy_hash(self) -> str:
        # Checked against when a name is unknown, so that an answer takes as long either way.
        return self.hasher.hash(credentials.new_secret())

    def throttle_salt(self) -> bytes:
        """The installation's salt for the login throttle's Redis keys, made at the first ask
        and kept in the database (not in Redis, whose reader it hides names from), so that
        every API server shares it."""
        with Session(self.engine) as session:
            found = session.get(Installation, THROTTLE_SALT)
            if found is None:
                session.add(Installation(name=THROTTLE_SALT, value=credentials.new_secret()))
                try:
                    session.commit()
                except IntegrityError:  # another server made it at the same moment
                    session.rollback()
                found = session.get_one(Installation, THROTTLE_SALT)
            return found.value.encode()

    # -- users ------------------------------------------------------------------------------

    def add_user(self, name: str, role: Role, password: str, *, by: str, now: datetime) -> None:
        """Add a user; :class:`AccessError` for a bad or taken name or a bad password."""
        credentials.check_name(name, "user")
        credentials.check_password(password)
        password_hash = self.hasher.hash(password)
        with Session(self.engine) as session:
            if session.scalar(select(ApiUser.id).where(ApiUser.name == name)) is not None:
                raise name_taken("user", name, "users")
            session.add(
                ApiUser(
                    name=name,
                    role=Role(role).value,
                    password_hash=password_hash,
                    created_at=now,
                    created_by=by,
                )
            )
            audit.record(session, who=by, what="user add", at=now, target=name,
                         after=f"role {Role(role).value}")  # fmt: skip
            _commit(session, "user", name, "users")

    def users(self) -> list[UserRow]:
        """Every user, by name."""
        with Session(self.engine) as session:
            return [
                UserRow(u.name, Role(u.role), u.created_at, u.created_by, u.last_login_at)
                for u in session.scalars(select(ApiUser).order_by(ApiUser.name))
            ]

    def remove_user(self, name: str, *, by: str = "unknown", now: datetime | None = None) -> None:
        """Remove a user and end their sessions; :class:`AccessError` when there is none."""
        with Session(self.engine) as session, session.begin():
            user_id = session.scalar(select(ApiUser.id).where(ApiUser.name == name))
            if user_id is None:
                raise AccessError(
                    f"user {name[:64]!r}: no such user (see 'shiftswitch users list')",
                    status=404,
                )
            session.execute(delete(ApiSession).where(ApiSession.user_id == user_id))
            session.execute(delete(ApiUser).where(ApiUser.id == user_id))
            audit.record(session, who=by, what="user remove", at=now or _now(), target=name)

    def check_password(
        self, name: str, password: str, now: datetime, *, via: str = "api"
    ) -> Principal | None:
        """The user ``name`` when ``password`` is theirs (and record the login); else None.
        Either way the login is audited (``via``: api or console), a failed one under the name
        only when it is a user's (a password typed into the name field is never kept).

        An unknown name costs the same argon2 check as a known one, so the time taken does not
        tell whether a name exists. A hash made with older parameters is made again.
        """
        if not password or len(password) > credentials.MAX_PASSWORD:
            return None
        with Session(self.engine) as session:
            user = session.scalar(select(ApiUser).where(ApiUser.name == name))
            try:
                self.hasher.verify(user.password_hash if user else self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                self._failed_login(user.name if user else None, via, now)
                return None
            if user is None:
                return None  # the dummy's password: never anyone's
            user.last_login_at = now
            if self.hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self.hasher.hash(password)
            principal = Principal(user.name, Role(user.role), "password")
            audit.record(session, who=user.name, via=via, what="login", at=now)
            session.commit()
            return principal

    def _failed_login(self, name: str | None, via: str, now: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            audit.record(session, who=name or "(no such user)", via=via, what="login failed",
                         at=now)  # fmt: skip

    # -- tokens -----------------------------------------------------------------------------

    def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None, by: str, now: datetime
    ) -> str:
        """Make a token and return it: the only time it is seen (only its digest is kept)."""
        credentials.check_name(name, "token")
        if expires_at is not None and expires_at <= now:
            raise AccessError(
                f"token expiry {credentials.format_instant(expires_at)} is not after now "
                f"({credentials.format_instant(now)}); give a later time"
            )
        secret = credentials.new_token()
        with Session(self.engine) as session:
            if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise name_taken("token", name, "tokens")
            session.add(
                ApiToken(
                    name=name,
                    role=Role(role).value,
                    digest=credentials.digest(secret),
                    prefix=credentials.token_prefix(secret),
                    created_at=now,
                    created_by=by,
                    expires_at=expires_at,
                )
            )
            audit.record(session, who=by, what="token create", at=now, target=name,
                         after=f"role {Role(role).value}")  # fmt: skip
            _commit(session, "token", name, "tokens")
        return secret

    def tokens(self) -> list[TokenRow]:
        """Every token, revoked and expired ones too, oldest first; never a secret."""
        with Session(self.engine) as session:
            query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.name)
            return [
                TokenRow(
                    t.name,
                    Role(t.role),
                    t.prefix,
                    t.created_at,
                    t.created_by,
                    t.expires_at,
                    t.revoked_at,
                    t.last_used_at,
                )
                for t in session.scalars(query)
            ]

    def revoke_token(self, name: str, *, now: datetime, by: str = "unknown") -> None:
        """Revoke a token at once; :class:`AccessError` when unknown or already revoked."""
        with Session(self.engine) as session, session.begin():
            audit.record(session, who=by, what="token revoke", at=now, target=name)
            token = session.scalar(select(ApiToken).where(ApiToken.name == name))
            if token is None:
                raise AccessError(
                    f"token {name[:64]!r}: no such token (see 'shiftswitch tokens list')",
                    status=404,
                )
            if token.revoked_at is not None:
                raise AccessError(
                    f"token {name!r}: already revoked at "
                    f"{credentials.format_instant(token.revoked_at)}",
                    status=409,
                )
            token.revoked_at = now

    def check_token(self, secret: str, now: datetime) -> Principal | None:
        """The token ``secret`` acts as; None when unknown, revoked or expired. Records its
        use, at most once a minute."""
        if not credentials.may_be_token(secret):
            return None
        wanted = credentials.digest(secret)
        with Session(self.engine) as session:
            token = session.scalar(select(ApiToken).where(ApiToken.digest == wanted))
            if token is None or not credentials.same_digest(secret, token.digest):
                return None
            if token.revoked_at is not None or (
                token.expires_at is not None and token.expires_at <= now
            ):
                return None
            principal = Principal(token.name, Role(token.role), "token")
            _mark_used(session, ApiToken.last_used_at, token.id, token.last_used_at, now)
            return principal

    # -- browser sessions -------------------------------------------------------------------

    def open_session(self, principal: Principal, now: datetime) -> tuple[str, str]:
        """Open a console session for a user who has just signed in: (the cookie's secret,
        the session's CSRF token). Sessions end after :data:`SESSION_TTL`. Sessions already
        over are cleared out here."""
        if principal.via == "token":
            raise AccessError("a console session is for a user: sign in with a name and password")
        secret = credentials.new_secret()
        csrf = credentials.csrf_token(secret)
        with Session(self.engine) as session, session.begin():
            session.execute(delete(ApiSession).where(ApiSession.expires_at <= now))
            user_id = session.scalar(select(ApiUser.id).where(ApiUser.name == principal.name))
            if user_id is None:
                raise AccessError(f"user {principal.name!r}: no such user")
            session.add(
                ApiSession(
                    digest=credentials.digest(secret),
                    user_id=user_id,
                    csrf_digest=credentials.digest(csrf),
                    created_at=now,
                    expires_at=now + SESSION_TTL,
                    last_seen_at=now,
                )
            )
        return secret, csrf

    def check_session(self, secret: str, now: datetime) -> SessionInfo | None:
        """The session whose cookie holds ``secret``: its user (``via`` "session", with the
        user's role now) and CSRF token; None when unknown, over, or its user removed."""
        if not secret or len(secret) > credentials.MAX_SECRET:
            return None
        wanted = credentials.digest(secret)
        with Session(self.engine) as session:
            found = session.execute(
                select(ApiSession, ApiUser)
                .join(ApiUser, ApiUser.id == ApiSession.user_id)
                .where(ApiSession.digest == wanted)
            ).one_or_none()
            if found is None:
                return None
            row, user = found
            if not credentials.same_digest(secret, row.digest) or row.expires_at <= now:
                return None
            info = SessionInfo(
                Principal(user.name, Role(user.role), "session"),
                row.expires_at,
                credentials.csrf_token(secret),
                row.csrf_digest,
            )
            _mark_used(session, ApiSession.last_seen_at, row.id, row.last_seen_at, now)
            return info

    def close_session(self, secret: str) -> None:
        """End the session whose cookie holds ``secret`` (nothing when there is none)."""
        if not secret or len(secret) > credentials.MAX_SECRET:
            return
        with Session(self.engine) as session, session.begin():
            session.execute(
                delete(ApiSession).where(ApiSession.digest == credentials.digest(secret))
            )

    # -- calendar keys ----------------------------------------------------------------------

    def new_calendar_key(self, agent: str, *, by: str, now: datetime) -> str:
        """A new key to ``agent``'s calendar feed, shown once: the old one stops working."""
        key = credentials.new_calendar_key()
        with Session(self.engine) as session, session.begin():
            audit.record(session, who=by, what="calendar key", at=now, target=agent)
            session.execute(delete(CalendarKey).where(CalendarKey.agent == agent))
            session.add(
                CalendarKey(
                    agent=agent, digest=credentials.digest(key), created_at=now, created_by=by
                )
            )
        return key

    def revoke_calendar_key(self, agent: str, *, by: str = "unknown") -> bool:
        """Stop ``agent``'s calendar key working; whether there was one."""
        with Session(self.engine) as session, session.begin():
            gone = session.execute(delete(CalendarKey).where(CalendarKey.agent == agent))
            if gone.rowcount:  # type: ignore[attr-defined]
                audit.record(session, who=by, what="calendar revoke", at=_now(), target=agent)
        return bool(gone.rowcount)  # type: ignore[attr-defined]

    def check_calendar_key(self, agent: str, key: str) -> bool:
        """Whether ``key`` opens ``agent``'s calendar feed (in constant time, once found)."""
        if not key.startswith(credentials.CALENDAR_PREFIX) or len(key) > credentials.MAX_SECRET:
            return False
        with Session(self.engine) as session:
            stored = session.scalar(select(CalendarKey.digest).where(CalendarKey.agent == agent))
        return stored is not None and credentials.same_digest(key, stored)


def _mark_used(
    session: Session,
    column: InstrumentedAttribute[Any],
    row_id: int,
    seen: datetime | None,
    now: datetime,
) -> None:
    """Set ``column`` (a token's last use, a session's last sight) of row ``row_id`` to ``now``
    when what it holds (``seen``) is :data:`SEEN_EVERY` old, unless another request just did."""
    if seen is not None and now - seen < SEEN_EVERY:
        return
    model = column.class_
    session.execute(
        update(model)
        .where(model.id == row_id, or_(column.is_(None), column <= now - SEEN_EVERY))
        .values({column.key: now})
    )
    session.commit()


def name_taken(what: str, name: str, group: str) -> AccessError:
    return AccessError(
        f"{what} {name!r}: the name is taken; choose another (see 'shiftswitch {group} list')",
        status=409,
    )


def _commit(session: Session, what: str, name: str, group: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # the same name added at the same moment
        session.rollback()
        raise name_taken(what, name, group) from None


def _now() -> datetime:
    """For a change whose caller gave no time (the clock is otherwise the caller's)."""
    return datetime.now(UTC)
