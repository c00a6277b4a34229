"""Configuration from the environment (README: Configuration), read once at the entry point and
passed down."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from shiftswitch import redisurl
from shiftswitch.hosts import AllowedHosts
from shiftswitch.retry import RetryPolicy

DEFAULT_DATABASE_URL = "sqlite:///shiftswitch.db"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_ROSTER = "schedules.yaml"
DEFAULT_WORKER_CONCURRENCY = 32  # threads per worker process (``shiftswitch worker -c``)
ROSTER_SOURCES = ("yaml", "db")
DEFAULT_DRIFT_EVERY = 900.0  # seconds between the scheduler's drift checks
MIN_DRIFT_EVERY = 10.0  # the file at SHIFTSWITCH_ROSTER, or the roster tables


def database_url(env: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL``, or the embedded default; Alembic's own commands read it here too."""
    env = os.environ if env is None else env
    return env.get("DATABASE_URL") or DEFAULT_DATABASE_URL


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and the fix."""


def credential_variables(account: str) -> tuple[str, str]:
    """The environment variables holding an account's API key and token (README: Configuration)."""
    return f"EXOTEL_{account.upper()}_API_KEY", f"EXOTEL_{account.upper()}_API_TOKEN"


@dataclass(frozen=True, slots=True)
class Settings:
    # URLs may hold passwords: never shown.
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    # With sentinels in REDIS_URL: the primary's name, and the passwords (README: Redis and
    # Sentinel). Never shown.
    redis_master: str = redisurl.DEFAULT_MASTER
    redis_password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)
    roster_path: str = DEFAULT_ROSTER
    roster_source: str = "yaml"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    http_timeout: float = 10.0  # read timeout of one Exotel request, seconds
    # Redis gives an unacknowledged task to another worker after this long. It must exceed the
    # longest retry delay, or a task waiting for its retry would run twice.
    visibility_timeout: float = 900.0
    # A worker holds a user's lock while it applies that user's switches; a worker that dies
    # holding it frees it after this long. It must exceed one request's time.
    lock_ttl: float = 20.0
    # A request whose answer never came may still land until this long after it was sent; the
    # device is read back then (README: How switching works).
    read_back_after: float = 30.0
    # The scheduler reads every managed device from Exotel this often, on spare request
    # budget, and corrects what drifted; 0 turns the check off (README: How switching works).
    drift_every: float = DEFAULT_DRIFT_EVERY
    # The file of notification channels and rules (README: Notifications); None: none.
    notify_path: str | None = None
    # Where people reach the console, for links in messages (https://shiftswitch.example.com).
    public_url: str | None = None
    # Seconds a watched condition (no worker, no scheduler) lasts before it is told.
    watch_after: float = 60.0
    # A boundary's switch this many seconds after its instant makes the boundary late.
    late_after: float = 120.0

    @property
    def redis(self) -> redisurl.RedisPlace:
        """Where Redis is (``REDIS_URL`` and its companions); ValueError when they are wrong."""
        return _place(
            self.redis_url, self.redis_master, self.redis_password, self.sentinel_password
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            AllowedHosts.from_env(env)  # read where it is used; checked here, at every start
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        retry = RetryPolicy(
            base_delay=_number(env, "SHIFTSWITCH_RETRY_BASE_DELAY", 1.0, low=0.01, high=HOUR),
            max_delay=_number(env, "SHIFTSWITCH_RETRY_MAX_DELAY", 300.0, low=0.01, high=DAY),
            max_attempts=int(
                _number(env, "SHIFTSWITCH_RETRY_MAX_ATTEMPTS", 8, low=1, high=1000, whole=True)
            ),
            max_age=_number(env, "SHIFTSWITCH_RETRY_MAX_AGE", 1800.0, low=1, high=WEEK),
        )
        http_timeout = _number(env, "SHIFTSWITCH_HTTP_TIMEOUT", 10.0, low=0.1, high=HOUR)
        settings = cls(
            database_url=database_url(env),
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            redis_master=env.get("SHIFTSWITCH_REDIS_MASTER") or redisurl.DEFAULT_MASTER,
            redis_password=env.get("SHIFTSWITCH_REDIS_PASSWORD") or None,
            sentinel_password=env.get("SHIFTSWITCH_SENTINEL_PASSWORD") or None,
            roster_path=env.get("SHIFTSWITCH_ROSTER") or DEFAULT_ROSTER,
            roster_source=_roster_source(env),
            retry=retry,
            http_timeout=http_timeout,
            visibility_timeout=_number(
                env, "SHIFTSWITCH_VISIBILITY_TIMEOUT", 900.0, low=1, high=WEEK
            ),
            lock_ttl=_number(env, "SHIFTSWITCH_LOCK_TTL", 20.0, low=1, high=DAY),
            read_back_after=_number(
                env, "SHIFTSWITCH_READ_BACK_AFTER", read_back_default(http_timeout), low=1, high=DAY
            ),
            drift_every=_number(
                env, "SHIFTSWITCH_DRIFT_EVERY", DEFAULT_DRIFT_EVERY, low=0, high=WEEK
            ),
            notify_path=env.get("SHIFTSWITCH_NOTIFY") or None,
            public_url=env.get("SHIFTSWITCH_PUBLIC_URL") or None,
            watch_after=_number(env, "SHIFTSWITCH_WATCH_AFTER", 60.0, low=5, high=HOUR),
            late_after=_number(env, "SHIFTSWITCH_LATE_AFTER", 120.0, low=1, high=DAY),
        )
        try:
            _ = settings.redis
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if settings.visibility_timeout <= retry.max_delay:
            raise ConfigError(
                f"SHIFTSWITCH_VISIBILITY_TIMEOUT ({settings.visibility_timeout:g} s) must be "
                f"longer than SHIFTSWITCH_RETRY_MAX_DELAY ({retry.max_delay:g} s), or a task "
                "waiting for its retry would be delivered twice"
            )
        if settings.lock_ttl <= settings.http_timeout + CONNECT_TIMEOUT:
            raise ConfigError(
                f"SHIFTSWITCH_LOCK_TTL ({settings.lock_ttl:g} s) must be longer than one "
                f"request can take ({settings.http_timeout + CONNECT_TIMEOUT:g} s: "
                "SHIFTSWITCH_HTTP_TIMEOUT plus the connect timeout)"
            )
        if settings.read_back_after <= settings.http_timeout + CONNECT_TIMEOUT:
            raise ConfigError(
                f"SHIFTSWITCH_READ_BACK_AFTER ({settings.read_back_after:g} s) must be longer "
                f"than one request can take ({settings.http_timeout + CONNECT_TIMEOUT:g} s: "
                "SHIFTSWITCH_HTTP_TIMEOUT plus the connect timeout), or a read-back could come "
                "before the request it checks"
            )
        if 0 < settings.drift_every < MIN_DRIFT_EVERY:
            raise ConfigError(
                f"SHIFTSWITCH_DRIFT_EVERY={settings.drift_every:g}: use 0 (no automatic drift "
                f"check) or at least {MIN_DRIFT_EVERY:g} seconds"
            )
        return settings


@lru_cache(maxsize=16)
def _place(
    url: str, master: str, password: str | None, sentinel_password: str | None
) -> redisurl.RedisPlace:
    return redisurl.parse(url, master, password, sentinel_password)


def read_back_default(http_timeout: float) -> float:
    """30 s after an unanswered request, or a request's longest time and a margin if longer."""
    return max(30.0, http_timeout + CONNECT_TIMEOUT + READ_BACK_MARGIN)


READ_BACK_MARGIN = 15.0  # seconds: how long past the client's timeout a request may still land


def _roster_source(env: Mapping[str, str]) -> str:
    source = (env.get("SHIFTSWITCH_ROSTER_SOURCE") or "yaml").strip().lower()
    if source not in ROSTER_SOURCES:
        raise ConfigError(
            f"SHIFTSWITCH_ROSTER_SOURCE={source!r}: use yaml (the file at SHIFTSWITCH_ROSTER) "
            "or db (the roster tables, filled by 'shiftswitch roster import')"
        )
    return source


CONNECT_TIMEOUT = 3.05  # seconds; a little over a multiple of TCP's 3 s retransmission window


# Upper bounds of the settings in seconds: far above any sensible value, and within what
# timedelta, Redis expiry times and socket timeouts accept (1e308 seconds is in none of them).
HOUR, DAY, WEEK = 3600, 86400, 7 * 86400


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float,
    high: float,
    whole: bool = False,
) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:  # also a whole number of thousands of digits
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        kind = "a whole number" if whole else "a number of seconds"
        shown = raw if len(raw) <= 40 else f"{raw[:20]}... ({len(raw)} characters)"
        raise ConfigError(f"{name}={shown!r}: must be {kind} from {low:g} to {high:g}")
    return value


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's API key and token. ``repr`` never shows the token."""

    key: str
    token: str

    def __repr__(self) -> str:
        return f"Credentials(key={self.key!r}, token=<hidden>)"


def credentials(account: str, env: Mapping[str, str] | None = None) -> Credentials:
    """The Exotel credentials of ``account`` from ``EXOTEL_<ACCOUNT>_API_KEY`` / ``_API_TOKEN``."""
    env = os.environ if env is None else env
    key_env, token_env = credential_variables(account)
    missing = [name for name in (key_env, token_env) if not env.get(name)]
    if missing:
        raise ConfigError(
            f"account {account!r}: set {' and '.join(missing)} in the environment "
            "(Exotel credentials are never read from the roster)"
        )
    return Credentials(env[key_env], env[token_env])
