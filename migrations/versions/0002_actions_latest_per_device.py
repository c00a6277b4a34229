"""an index for the latest action of each roster device

Reconcile and the worker's superseded check look up actions by (account, agent, device); the
index also serves "the latest of each" (max id) without reading the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_actions_device_latest", "actions", ["account", "agent", "device", "id"])


def downgrade() -> None:
    op.drop_index("ix_actions_device_latest", table_name="actions")
