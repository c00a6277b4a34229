"""roster_assignments: dated shifts and the breaks inside them; calendar_keys

A WFM tool or a spreadsheet plans work as dated shifts rather than weekly patterns. Each row is
one: ``device`` ON from ``starts_at`` to ``ends_at``, or with ``off`` a break inside the agent's
work (``device`` OFF, every device when NULL). ``shift`` and ``activity`` are labels the planner
gave it. Rows that stay across roster writes keep their ids.

``calendar_keys`` holds one key per agent to its calendar feed (``GET /calendar/AGENT.ics``),
as a SHA-256 digest; a new key replaces the row, which revokes the old one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shiftswitch.models import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "roster_assignments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("off", sa.Boolean(), nullable=False),
        sa.Column("shift", sa.Text(), nullable=True),
        sa.Column("activity", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_assignments")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_roster_assignments_agent_start",
        "roster_assignments",
        ["agent", "starts_at"],
        unique=False,
    )

    op.create_table(
        "calendar_keys",
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent", name=op.f("pk_calendar_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_calendar_keys_digest")),
    )


def downgrade() -> None:
    op.drop_table("calendar_keys")
    op.drop_index("ix_roster_assignments_agent_start", table_name="roster_assignments")
    op.drop_table("roster_assignments")
