"""Where Redis is: one server, or a primary found through Sentinel (README: Redis and Sentinel).

``REDIS_URL`` is either one server (``redis://``, ``rediss://``) or a list of
sentinels in Celery's form, ``sentinel://HOST:PORT;sentinel://HOST:PORT/DB``, with the
monitored primary's name in ``SHIFTSWITCH_REDIS_MASTER``. Every process opens Redis through
:func:`shiftswitch.redisclient.client` and gives Celery :func:`broker_url` and
:func:`transport_options`, so that the broker and every other use of Redis (the rate
limiter, leases, heartbeats, leadership, the login throttle) follow the same primary, and
follow it to another after a failover.

Passwords travel in :class:`RedisPlace`'s fields, never in its ``repr`` or in :func:`shown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

DEFAULT_MASTER = "mymaster"
SERVER_SCHEMES = ("redis", "rediss")
SENTINEL = "sentinel"
SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class RedisPlace:
    """One Redis server (``sentinels`` empty: ``url``), or the primary named ``master`` that
    these sentinels watch, database ``db``."""

    url: str = field(repr=False)  # REDIS_URL as given (it may hold a password)
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = DEFAULT_MASTER
    db: int = 0
    password: str | None = field(default=None, repr=False)  # the primary's (and replicas')
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)


def parse(
    url: str,
    master: str | None = None,
    password: str | None = None,
    sentinel_password: str | None = None,
) -> RedisPlace:
    """``REDIS_URL`` and its companions read; ValueError naming what is wrong and the fix.
    ``password`` is used when the URL names none."""
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "unix":
        raise ValueError(
            f"REDIS_URL={shown_url(text)!r}: a Unix socket cannot carry Celery's broker here; "
            "use redis://HOST:PORT/DB"
        )
    if scheme in SERVER_SCHEMES:
        if ";" in text:
            raise ValueError(
                f"REDIS_URL={shown_url(text)!r}: only sentinel:// URLs may be listed with ';' "
                "(one server: redis://HOST:PORT/DB)"
            )
        parts = _split(text)
        return RedisPlace(
            url=text,
            db=_db(parts.path, text),
            password=unquote(parts.password) if parts.password else password,
        )
    if scheme != SENTINEL:
        raise ValueError(
            f"REDIS_URL={shown_url(text)!r}: use redis://HOST:PORT/DB (or rediss://), "
            "or sentinel://HOST:PORT;sentinel://HOST:PORT/DB with SHIFTSWITCH_REDIS_MASTER"
        )
    sentinels: list[tuple[str, int]] = []
    db = 0
    in_url: str | None = None
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        if not item.lower().startswith(f"{SENTINEL}://"):
            raise ValueError(
                f"REDIS_URL={shown_url(text)!r}: every entry of a sentinel list must be "
                "sentinel://HOST:PORT"
            )
        parts = _split(item)
        if not parts.hostname:
            raise ValueError(f"REDIS_URL={shown_url(text)!r}: a sentinel without a host")
        try:
            port = parts.port or SENTINEL_PORT
        except ValueError:
            raise ValueError(
                f"REDIS_URL={shown_url(text)!r}: a sentinel's port must be a number from 1 to 65535"
            ) from None
        sentinels.append((parts.hostname, port))
        if parts.path.strip("/"):
            db = _db(parts.path, text)
        if parts.password and in_url is None:
            in_url = unquote(parts.password)
    name = (master or DEFAULT_MASTER).strip()
    if not name or any(c.isspace() for c in name):
        raise ValueError(
            f"SHIFTSWITCH_REDIS_MASTER={master!r}: the name the sentinels monitor the primary "
            "by (sentinel monitor NAME ...), without spaces"
        )
    return RedisPlace(
        url=text,
        sentinels=tuple(sentinels),
        master=name,
        db=db,
        password=in_url or password or None,
        sentinel_password=sentinel_password or None,
    )


def _split(item: str) -> Any:
    try:
        return urlsplit(item)
    except ValueError:
        raise ValueError(f"REDIS_URL={shown_url(item)!r}: not a URL") from None


def _db(path: str, text: str) -> int:
    raw = path.strip("/") or "0"
    if not raw.isdigit() or int(raw) > 1_000_000:
        raise ValueError(
            f"REDIS_URL={shown_url(text)!r}: the database after the last '/' must be a number "
            "(redis://HOST:PORT/0)"
        )
    return int(raw)


def broker_url(place: RedisPlace) -> str:
    """The URL Celery's broker is given: ``REDIS_URL``, with the primary's password (from
    ``SHIFTSWITCH_REDIS_PASSWORD``) in the first sentinel's entry, where kombu reads it, and
    the database there too."""
    if not place.is_sentinel:
        parts = urlsplit(place.url)
        if place.password and not parts.password:
            user = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
            host = parts.netloc.rpartition("@")[2]
            login = f"{user}:{quote(place.password, safe='')}@"
            return parts._replace(netloc=login + host).geturl()
        return place.url
    auth = f":{quote(place.password, safe='')}@" if place.password else ""
    entries = [f"{SENTINEL}://{_host(host)}:{port}" for host, port in place.sentinels]
    entries[0] = f"{SENTINEL}://{auth}{entries[0].split('://', 1)[1]}/{place.db}"
    return ";".join(entries)


def _host(host: str) -> str:
    """``host`` as a URL names it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def transport_options(place: RedisPlace) -> dict[str, Any]:
    """What kombu's Sentinel transport needs beside the URL (nothing for a single server)."""
    if not place.is_sentinel:
        return {}
    options: dict[str, Any] = {"master_name": place.master}
    sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
    if place.sentinel_password:
        sentinel_kwargs["password"] = place.sentinel_password
    options["sentinel_kwargs"] = sentinel_kwargs
    return options


def shown(place: RedisPlace) -> str:
    """Where Redis is, for messages and logs: no password."""
    if place.is_sentinel:
        hosts = ",".join(f"{_host(host)}:{port}" for host, port in place.sentinels)
        return f"sentinels {hosts} (primary {place.master!r}, db {place.db})"
    return shown_url(place.url)


def shown_url(text: str) -> str:
    """``text`` with any password in it replaced by ``***``."""
    return ";".join(_masked(item) for item in text.split(";"))


def _masked(item: str) -> str:
    item = _QUERY_PASSWORD.sub(r"\1***", item)
    head, sep, tail = item.partition("://")
    if not sep or "@" not in tail:
        return item
    auth, _, host = tail.rpartition("@")  # a password may hold '@' or '/' unencoded
    user = auth.split(":", 1)[0] if ":" in auth else ""
    return f"{head}://{user}:***@{host}"


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&;]*", re.IGNORECASE)
