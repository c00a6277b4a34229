"""``shiftswitch check``: is each part this installation needs there and sound?

Each check returns a :class:`Check` (never raises for what it finds), so that a health probe
gets an exit code and an operator one line per part saying what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import requests
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shiftswitch import redisclient, redisurl
from shiftswitch.broker import make_celery
from shiftswitch.db import (
    BadDatabaseUrl,
    first_line,
    make_engine,
    missing_file,
    no_such_file,
    redacted,
    revisions,
)
from shiftswitch.notify.config import load_config
from shiftswitch.notify.history import last_failures
from shiftswitch.planning.validation import validate_text
from shiftswitch.problems import Problem, RosterError
from shiftswitch.roster import yamldoc
from shiftswitch.roster.loader import read_text
from shiftswitch.settings import ConfigError, Settings
from shiftswitch.sources.source import reads_stored
from shiftswitch.sources.store import DATABASE, NoRoster, RosterStore

CHECKS = ("database", "redis", "roster", "workers", "notify", "sandbox", "api")
DEFAULT_CHECKS = ("database", "redis", "roster", "workers")  # and notify, when configured


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def database(settings: Settings) -> Check:
    """Reachable, and migrated to the newest revision this version knows."""
    try:
        where = redacted(settings.database_url)
    except BadDatabaseUrl as exc:
        return Check("database", False, str(exc))
    if missing_file(settings.database_url):  # connecting would create it
        return Check("database", False, no_such_file(where))
    try:
        found = revisions(settings.database_url)
    except BadDatabaseUrl as exc:
        return Check("database", False, str(exc))
    except SQLAlchemyError as exc:
        return Check("database", False, f"{where}: cannot connect: {first_line(exc)}")
    if not found.at_head:
        return Check(
            "database",
            False,
            f"{where}: at revision {found.current or 'none'}, this version needs {found.head}: "
            "run 'shiftswitch db upgrade'",
        )
    return Check("database", True, f"{where}: at revision {found.head} (newest)")


def redis(settings: Settings) -> Check:
    try:
        place = settings.redis
    except ValueError as exc:
        return Check("redis", False, str(exc))
    where = redisurl.shown(place)
    try:
        _ping(place)
    except RedisError as exc:
        return Check("redis", False, f"{where}: {exc} (check REDIS_URL; is Redis running?)")
    return Check("redis", True, f"{where}: answers")


def _ping(place: redisurl.RedisPlace) -> None:
    """Redis answers within 2 s (a RedisError when it does not)."""
    redisclient.client(place, socket_connect_timeout=2, socket_timeout=2).ping()


def roster(settings: Settings, now: datetime) -> Check:
    """The roster the scheduler reads (``SHIFTSWITCH_ROSTER_SOURCE``) passes validation."""
    if reads_stored(settings):
        return _stored_roster(settings, now)
    path = settings.roster_path
    try:
        report = validate_text(read_text(path), now)
    except RosterError as exc:
        return Check("roster", False, exc.problems[0].render(path))
    if not report.ok:
        return _invalid(report.errors, path, "'shiftswitch roster validate'")
    assert report.roster is not None
    return Check("roster", True, f"{path}: valid, {_agents(len(report.roster.agents))}{_read()}")


def _stored_roster(settings: Settings, now: datetime) -> Check:
    if missing_file(settings.database_url):
        return Check("roster", False, f"{DATABASE}: no database file: run 'shiftswitch db upgrade'")
    engine = make_engine(settings.database_url, pool_pre_ping=False)
    try:
        number, stored = RosterStore(engine).validated(now)
    except NoRoster as exc:
        return Check("roster", False, f"{DATABASE}: {exc}")
    except RosterError as exc:
        return _invalid(exc.problems, DATABASE, "'shiftswitch roster export' it, fix, import")
    except SQLAlchemyError as exc:
        return Check("roster", False, f"{DATABASE}: cannot read: {first_line(exc)}")
    finally:
        engine.dispose()
    agents = _agents(len(stored.agents))
    return Check("roster", True, f"{DATABASE}: version {number} valid, {agents}{_read()}")


def _invalid(errors: Sequence[Problem], where: str, see: str) -> Check:
    first = errors[0].render(where)
    more = f" (and {len(errors) - 1} more: {see})"
    return Check("roster", False, first + (more if len(errors) > 1 else ""))


def _agents(count: int) -> str:
    return f"{count} agent{'s' * (count != 1)}"


def _read() -> str:
    """Nothing when rosters are read in C; else a note that says why they are slower."""
    if yamldoc.read_in_c():
        return ""
    why = "its C reader not built" if not yamldoc.c_reader_built() else "PyYAML without libyaml"
    return f"; read in Python alone, {why} (README: Roster format, Large rosters)"


def workers(settings: Settings, name: str | None = None, timeout: float = 2.0) -> Check:
    """A worker (or the one named) answers a broadcast ping within ``timeout``: the first
    answer ends the wait, so a healthy check takes milliseconds."""
    try:
        # Redis asked first: Celery's broker would try to connect for seconds before failing.
        _ping(settings.redis)
    except (RedisError, ValueError) as exc:
        return Check("workers", False, f"cannot ask: {exc}")
    app = make_celery(settings)
    try:
        replies = app.control.ping(destination=[name] if name else None, timeout=timeout, limit=1)
    except (RedisError, BrokerError, OSError) as exc:
        return Check("workers", False, f"cannot ask: {exc}")
    finally:
        app.close()
    names = sorted(host for reply in replies for host in reply)
    if not names:
        who = f"worker {name}" if name else "no worker"
        return Check("workers", False, f"{who} answered within {timeout:g} s")
    return Check("workers", True, f"{', '.join(names)} answered")


def notify(settings: Settings) -> Check:
    """The notification channels (``SHIFTSWITCH_NOTIFY``): each one's URL is set, and its last
    message was not left failing. Sends nothing ('shiftswitch notify test' does)."""
    if not settings.notify_path:
        return Check("notify", True, "no channels (SHIFTSWITCH_NOTIFY is not set)")
    try:
        config = load_config(settings.notify_path)
    except ConfigError as exc:
        return Check("notify", False, str(exc))
    unset = [f"{c}: {v} is not set" for c, v in config.channels.items() if config.url(c) is None]
    if unset:
        return Check("notify", False, "; ".join(unset))
    engine = make_engine(settings.database_url)
    try:
        failing = last_failures(engine)
    except SQLAlchemyError as exc:
        return Check("notify", False, f"cannot read the deliveries: {first_line(exc)}")
    finally:
        engine.dispose()
    bad = [f"{c}: failing: {why}" for c, why in failing.items() if c in config.channels]
    if bad:
        return Check("notify", False, "; ".join(bad))
    return Check("notify", True, f"{', '.join(config.channels)}: set, none failing")


def sandbox(url: str) -> Check:
    return _answers("sandbox", url, "/_sandbox/health")


def api(url: str) -> Check:
    """``shiftswitch api`` answers (its OpenAPI document, which needs no credentials)."""
    return _answers("api", url, "/api/openapi.json")


def _answers(name: str, url: str, path: str) -> Check:
    try:
        reply = requests.get(f"{url.rstrip('/')}{path}", timeout=2)
    except requests.RequestException as exc:
        return Check(name, False, f"{url}: {exc.__class__.__name__}")
    if reply.status_code != 200:
        return Check(name, False, f"{url}: HTTP {reply.status_code}")
    return Check(name, True, f"{url}: answers")


def run(
    settings: Settings,
    names: tuple[str, ...],
    now: datetime,
    *,
    worker: str | None = None,
    sandbox_url: str = "http://127.0.0.1:8090",
    api_url: str = "http://127.0.0.1:8000",
) -> list[Check]:
    """The checks named, in the order given."""
    table: dict[str, Callable[[], Check]] = {
        "database": lambda: database(settings),
        "redis": lambda: redis(settings),
        "roster": lambda: roster(settings, now),
        "workers": lambda: workers(settings, worker),
        "notify": lambda: notify(settings),
        "sandbox": lambda: sandbox(sandbox_url),
        "api": lambda: api(api_url),
    }
    return [table[name]() for name in names]
