"""Every table of shiftswitch on one metadata: the results (:mod:`shiftswitch.models`), the
roster's (:mod:`shiftswitch.roster_tables`), the HTTP API's users, tokens and sessions
(:mod:`shiftswitch.access.tables`), the notification outbox
(:mod:`shiftswitch.notify.tables`) and the devices' timeline (:mod:`shiftswitch.timeline`).
Migrations compare it whole; tests empty it whole."""

from __future__ import annotations

from sqlalchemy import MetaData

# Imported for their tables, which join the same metadata.
import shiftswitch.access.tables
import shiftswitch.notify.tables
import shiftswitch.roster_tables
import shiftswitch.timeline  # noqa: F401
from shiftswitch.models import Base

METADATA: MetaData = Base.metadata
