"""Configuration from the environment (SPEC §8), read once at the entry point and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shiftswitch.roster import Account

DEFAULT_DATABASE_URL = "sqlite:///shiftswitch.db"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_ROSTER = "schedules.yaml"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and the fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    roster_path: str = DEFAULT_ROSTER

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            roster_path=env.get("SHIFTSWITCH_ROSTER") or DEFAULT_ROSTER,
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's API key and token. ``repr`` never shows the token."""

    key: str
    token: str

    def __repr__(self) -> str:
        return f"Credentials(key={self.key!r}, token=<hidden>)"


def credentials(account: Account, env: Mapping[str, str] | None = None) -> Credentials:
    """The Exotel credentials of ``account`` from ``EXOTEL_<ACCOUNT>_API_KEY`` / ``_API_TOKEN``."""
    env = os.environ if env is None else env
    missing = [name for name in (account.key_env, account.token_env) if not env.get(name)]
    if missing:
        raise ConfigError(
            f"account {account.name!r}: set {' and '.join(missing)} in the environment "
            "(Exotel credentials are never read from the roster)"
        )
    return Credentials(env[account.key_env], env[account.token_env])
