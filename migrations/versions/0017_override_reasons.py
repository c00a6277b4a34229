"""roster_overrides.reason: why an override is there, as the person who made it said

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, also on SQLite: a batch copy could lose the table's AUTOINCREMENT
    # (override ids are never reused).
    op.add_column("roster_overrides", sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roster_overrides") as batch:
        batch.drop_column("reason")
