"""notifications: the outbox of events to tell people, their deliveries, and open conditions;
an agent's contact

An event is written to ``notifications`` (one row per channel its rules name) in the
transaction that notices it; the deliverer groups a channel's events of one kind into a
``notification_deliveries`` row and sends it, with retries. ``notify_conditions`` holds the
conditions alerted on (no worker, no scheduler, ...) until they clear, when ``recovered`` is
sent. ``roster_agents.contact`` is an agent's e-mail address, for their own reminders.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shiftswitch.models import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("roster_agents") as batch:
        batch.add_column(sa.Column("contact", sa.Text(), nullable=True))
    op.create_table(
        "notifications",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("channel", "key", name=op.f("uq_notifications_channel")),
    )
    op.create_index("ix_notifications_pending", "notifications", ["channel", "kind", "delivery_id"])
    op.create_index("ix_notifications_delivery", "notifications", ["delivery_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_try_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    op.create_index(
        "ix_notification_deliveries_due", "notification_deliveries", ["sent_at", "next_try_at"]
    )
    op.create_index(
        "ix_notification_deliveries_last",
        "notification_deliveries",
        ["channel", "kind", "created_at"],
    )
    op.create_table(
        "notify_conditions",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "subject", name=op.f("pk_notify_conditions")),
    )


def downgrade() -> None:
    with op.batch_alter_table("roster_agents") as batch:
        batch.drop_column("contact")
    op.drop_table("notify_conditions")
    op.drop_index("ix_notification_deliveries_last", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notifications_delivery", table_name="notifications")
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.drop_table("notifications")
