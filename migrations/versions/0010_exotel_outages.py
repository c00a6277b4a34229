"""exotel_outages: when an account's Exotel failed every request; installation: values made once

An outage is open (``ended_at`` NULL) from when a worker noticed every request to the account
failing until a probe found Exotel answering again; one is open at a time per account. The
``outages`` counter of ``changes`` tells the scheduler, within a tick, that one began or ended.
``installation`` holds values made once and shared by the processes: the login throttle's salt,
so that its Redis keys give no name or address away to whoever reads Redis.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shiftswitch.models import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "exotel_outages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("probes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("probed_at", UtcDateTime(), nullable=True),
        sa.Column("probe_error", sa.Text(), nullable=True),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exotel_outages")),
    )
    op.create_index(
        "ix_exotel_outages_open",
        "exotel_outages",
        ["account"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_table(
        "installation",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_installation")),
    )
    changes = sa.table("changes", sa.column("name", sa.String), sa.column("serial", sa.Integer))
    op.bulk_insert(changes, [{"name": "outages", "serial": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM changes WHERE name = 'outages'")
    op.drop_table("installation")
    op.drop_index("ix_exotel_outages_open", table_name="exotel_outages")
    op.drop_table("exotel_outages")
