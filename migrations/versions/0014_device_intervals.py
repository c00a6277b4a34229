"""device_intervals: each device's confirmed states as intervals, for the adherence report

ON or OFF from the moment Exotel confirmed it until the next different state, UNKNOWN from an
unanswered request until its read-back; at most one open interval per device. Each device's
last confirmed state (device_states) opens its first interval.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shiftswitch.models import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "device_intervals",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("action_id", BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_intervals")),
    )
    op.create_index(
        "ix_device_intervals_open",
        "device_intervals",
        ["account", "user_id", "device_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index("ix_device_intervals_ended", "device_intervals", ["ended_at"])
    op.create_index("ix_device_intervals_agent", "device_intervals", ["agent", "ended_at"])
    op.execute(
        "INSERT INTO device_intervals "
        "(account, user_id, device_id, agent, device, state, started_at, action_id) "
        "SELECT account, user_id, device_id, agent, device, "
        "CASE WHEN available THEN 'on' ELSE 'off' END, confirmed_at, action_id "
        "FROM device_states"
    )


def downgrade() -> None:
    op.drop_index("ix_device_intervals_agent", table_name="device_intervals")
    op.drop_index("ix_device_intervals_ended", table_name="device_intervals")
    op.drop_index("ix_device_intervals_open", table_name="device_intervals")
    op.drop_table("device_intervals")
