"""actions that change a device's number: kind and new_contact_uri

``device set-number`` records an action of kind ``number`` carrying the number it sets; every
action before this revision is a switch (``available``), the default.

The columns are added with ALTER TABLE ... ADD COLUMN on both databases, never through a batch
copy of the table: on SQLite, with foreign keys on, dropping the old ``actions`` table would
delete every row of ``attempts`` (ON DELETE CASCADE).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "actions",
        sa.Column(
            "kind",
            sa.String(length=16),
            sa.CheckConstraint("kind IN ('number', 'switch')", name=op.f("ck_actions_kind")),
            server_default="switch",
            nullable=False,
        ),
    )
    op.add_column("actions", sa.Column("new_contact_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("actions", "new_contact_uri")
    op.drop_column("actions", "kind")
