"""Where an account's Exotel credentials may be sent: Exotel's regions, and the hosts the
environment allows besides (``SHIFTSWITCH_ALLOWED_BASE_URLS``, for a local stand-in such as
the sandbox).

A roster names its account's API root as a ``region`` or a ``base_url``; whoever may edit the
roster must not be able to point the credentials at a host of their choosing. Validation
refuses a ``base_url`` outside this list, and the Exotel client sends nothing to one (a roster
stored before the list changed, an action recorded before it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

REGIONS: Mapping[str, str] = MappingProxyType(
    {
        "singapore": "https://ccm-api.exotel.com",
        "mumbai": "https://ccm-api.in.exotel.com",
    }
)
VARIABLE = "SHIFTSWITCH_ALLOWED_BASE_URLS"

Origin = tuple[str, str, int | None]  # scheme, host (lower case), port (None: any)


def _origin(url: str) -> Origin | None:
    """``(scheme, host, port)`` of ``http(s)://host[:port]`` with nothing after it; None for
    anything else (a path, a query, credentials, another scheme, a bad port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
    ):
        return None
    return parts.scheme, parts.hostname.lower(), port


_EXOTEL = frozenset(o for o in map(_origin, REGIONS.values()) if o is not None)


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """The hosts besides Exotel's regions that a ``base_url`` may name; each with a port, or
    any port of that host. ``anywhere``: any host, for reading a roster nothing is sent from
    (an old version, to compare it)."""

    extra: tuple[Origin, ...] = ()
    anywhere: bool = False

    @classmethod
    def parse(cls, text: str) -> AllowedHosts:
        """``scheme://host`` or ``scheme://host:port`` entries, comma-separated; raises
        :class:`ValueError` naming the first bad one (every process checks the variable at
        its start: :meth:`shiftswitch.settings.Settings.from_env`)."""
        extra: list[Origin] = []
        for entry in filter(None, (e.strip() for e in text.split(","))):
            origin = _origin(entry)
            if origin is None:
                raise ValueError(
                    f"{VARIABLE}: {entry[:80]!r} is not scheme://host or scheme://host:port "
                    "(for example http://127.0.0.1 for the sandbox on any port)"
                )
            extra.append(origin)
        return cls(tuple(extra))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AllowedHosts:
        return cls.parse((os.environ if env is None else env).get(VARIABLE, ""))

    def allows(self, base_url: str) -> bool:
        """Whether ``base_url`` is one of Exotel's regions or an allowed host."""
        origin = _origin(base_url)
        if origin is None:
            return False
        scheme, host, port = origin
        if self.anywhere:
            return True
        if (scheme, host, None) in _EXOTEL:
            return port in (None, 443)
        return any(
            s == scheme and h == host and (p is None or p == _port(scheme, port))
            for s, h, p in self.extra
        )

    def refusal(self, base_url: str) -> str:
        """Why ``base_url`` may not be sent the credentials, and the fix, in one line."""
        return (
            f"{base_url} is not Exotel's (use region: singapore or mumbai); a local stand-in "
            f"must be allowed by {VARIABLE} (for example http://127.0.0.1)"
        )


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)
