"""device_states: a partial index of the devices ON by account, so that they are counted per
account without reading every device (the status summary at 100,000 agents)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_device_states_on",
        "device_states",
        ["account"],
        postgresql_where=sa.text("available"),
        sqlite_where=sa.text("available = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_device_states_on", table_name="device_states")
