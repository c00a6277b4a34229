"""Every table of shiftswitch on one metadata: the results and the roster
(:mod:`shiftswitch.models`), the HTTP API's users, tokens and sessions
(:mod:`shiftswitch.access.tables`) and the notification outbox
(:mod:`shiftswitch.notify.tables`). Migrations compare it whole; tests empty it whole."""

from __future__ import annotations

from sqlalchemy import MetaData

# Imported for their tables, which join the same metadata.
import shiftswitch.access.tables
import shiftswitch.notify.tables  # noqa: F401
from shiftswitch.models import Base

METADATA: MetaData = Base.metadata
