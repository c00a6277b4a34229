"""Every table of shiftswitch on one metadata: the results and the roster
(:mod:`shiftswitch.models`) and the HTTP API's users, tokens and sessions
(:mod:`shiftswitch.access.tables`). Migrations compare it whole; tests empty it whole."""

from __future__ import annotations

from sqlalchemy import MetaData

import shiftswitch.access.tables  # noqa: F401 - its tables, on the same metadata
from shiftswitch.models import Base

METADATA: MetaData = Base.metadata
