"""The roster file a scheduler puts in force, recorded as a version (README: Audit): who and
what, and the agents whose starts it changes told in the same transaction."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from shiftswitch import queries
from shiftswitch.actions import ActionStore
from shiftswitch.logs import event
from shiftswitch.notify.changes import tell_changes
from shiftswitch.notify.config import NotifyConfig
from shiftswitch.roster.model import Roster
from shiftswitch.sources.source import RosterFile
from shiftswitch.sources.store import add_version, who

log = logging.getLogger("shiftswitch.scheduler")


def record_version(
    store: ActionStore,
    source: RosterFile,
    roster: Roster,
    before: Roster | None,
    notify: NotifyConfig,
    now: datetime,
) -> int | None:
    """Record ``roster``, read from ``source``, as a version unless the last one has its
    digest, telling the agents whose starts it changes since ``before`` (``shift_changed``);
    its number, or None when nothing was recorded (the last already, or another scheduler
    recorded it first)."""
    digest, path = source.digest, source.path
    with store.sessions() as session:
        last = queries.last_version(session)
        if last is not None and last.digest == digest:
            return None
        number = add_version(
            session,
            source.text,
            source=path,
            by=who(process="scheduler"),
            now=now,
            summary=roster.summary(),
        )
        tell_changes(session, notify, before, roster, number, now)
        try:
            session.commit()
        except IntegrityError:  # another scheduler recorded it at the same moment
            session.rollback()
            return None
    event(log, logging.INFO, "roster", roster=path, version=number, digest=digest[:12])
    return number
