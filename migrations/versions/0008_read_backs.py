"""read_backs: devices to read back; remote_checks say what kind of check each was

A request whose answer never came may still be applied by Exotel later, after whatever followed
it: ``read_backs`` holds each such device until it has been read again, from ``due_at`` (when the
request can no longer land). ``remote_checks`` now also records the automatic checks: ``kind``
(remote, drift, read-back, first-read) and ``reads`` (GET requests it took).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shiftswitch.models import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "read_backs",
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account", "user_id", "device_id", name=op.f("pk_read_backs")),
    )
    op.create_index("ix_read_backs_due_at", "read_backs", ["due_at"], unique=False)
    op.add_column(
        "remote_checks",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="remote"),
    )
    op.add_column("remote_checks", sa.Column("reads", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("remote_checks") as batch:
        batch.drop_column("reads")
        batch.drop_column("kind")
    op.drop_index("ix_read_backs_due_at", table_name="read_backs")
    op.drop_table("read_backs")
