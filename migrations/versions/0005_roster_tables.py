"""the roster in the database, holds, pauses, and the counters the scheduler watches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("roster_versions") as batch:
        batch.add_column(sa.Column("content", sa.Text(), nullable=True))
    op.create_table(
        "roster_settings",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_settings")),
    )
    op.create_table(
        "roster_accounts",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sid", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("rate_limit", sa.String(length=20), nullable=False),
        sa.Column("ramp_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roster_accounts")),
    )
    op.create_table(
        "roster_agents",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account"],
            ["roster_accounts.name"],
            name=op.f("fk_roster_agents_account_roster_accounts"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roster_agents")),
    )
    op.create_table(
        "roster_devices",
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent"], ["roster_agents.name"], name=op.f("fk_roster_devices_agent_roster_agents")
        ),
        sa.PrimaryKeyConstraint("agent", "name", name=op.f("pk_roster_devices")),
    )
    op.create_table(
        "roster_shifts",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start", sa.Text(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("end_cron", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("ramp_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roster_shifts")),
        sa.UniqueConstraint("position", name=op.f("uq_roster_shifts_position")),
    )
    op.create_table(
        "roster_shift_members",
        sa.Column("shift", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent", "device"],
            ["roster_devices.agent", "roster_devices.name"],
            name=op.f("fk_roster_shift_members_agent_roster_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["shift"],
            ["roster_shifts.name"],
            name=op.f("fk_roster_shift_members_shift_roster_shifts"),
        ),
        sa.PrimaryKeyConstraint("shift", "position", name=op.f("pk_roster_shift_members")),
    )
    op.create_table(
        "roster_skip_dates",
        sa.Column("shift", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shift"], ["roster_shifts.name"], name=op.f("fk_roster_skip_dates_shift_roster_shifts")
        ),
        sa.PrimaryKeyConstraint("shift", "day", name=op.f("pk_roster_skip_dates")),
    )
    op.create_table(
        "roster_overrides",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("starts_at", INSTANT, nullable=False),
        sa.Column("ends_at", INSTANT, nullable=False),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_overrides")),
    )
    op.create_table(
        "holds",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("starts_at", INSTANT, nullable=False),
        sa.Column("until", INSTANT, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("action_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_holds_action_id_actions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    op.create_index("ix_holds_until", "holds", ["until"])
    op.create_table(
        "pauses",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account", sa.Text(), nullable=True),
        sa.Column("paused_at", INSTANT, nullable=False),
        sa.Column("paused_by", sa.Text(), nullable=False),
        sa.Column("resumed_at", INSTANT, nullable=True),
        sa.Column("resumed_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pauses")),
    )
    changes = op.create_table(
        "changes",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_changes")),
    )
    op.bulk_insert(changes, [{"name": n, "serial": 0} for n in ("roster", "holds", "pauses")])


def downgrade() -> None:
    for table in (
        "changes",
        "pauses",
        "holds",
        "roster_overrides",
        "roster_skip_dates",
        "roster_shift_members",
        "roster_shifts",
        "roster_devices",
        "roster_agents",
        "roster_accounts",
        "roster_settings",
    ):
        op.drop_table(table)
    with op.batch_alter_table("roster_versions") as batch:
        batch.drop_column("content")
