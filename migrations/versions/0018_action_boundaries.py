"""actions.boundary_at: the shift start a ramped ON serves, to count it under that boundary

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shiftswitch.models import UtcDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, also on SQLite: no copy of a table that may hold millions of rows.
    # Actions recorded before have none: a ramped ON among them stays counted at its own
    # instant, as it was.
    op.add_column("actions", sa.Column("boundary_at", UtcDateTime(), nullable=True))
    op.create_index("ix_actions_boundary_at", "actions", ["boundary_at"])


def downgrade() -> None:
    # A plain DROP COLUMN too: a batch copy would rewrite the table's constraints, which the
    # earlier downgrades drop by their own statements.
    op.drop_index("ix_actions_boundary_at", table_name="actions")
    op.drop_column("actions", "boundary_at")
