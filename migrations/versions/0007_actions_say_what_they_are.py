"""actions: ``wants_on`` and ``user_key`` say what the columns are

``available`` held an action's desired state, and a number change (which sends no
``available``) carried False there to be ordered like an OFF: ``wants_on`` says so. ``owner``
is the key that orders one Exotel user's actions: ``user_key``. The index over them follows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Renamed in place (SQLite 3.25+ and PostgreSQL both ALTER TABLE ... RENAME COLUMN): recreating
# the table, as a batch migration does on SQLite, would cascade-delete its attempts.


def _rename(old: tuple[str, str, str], new: tuple[str, str, str]) -> None:
    (old_index, old_key, old_wants), (new_index, new_key, new_wants) = old, new
    op.drop_index(old_index, table_name="actions")
    op.execute(f"ALTER TABLE actions RENAME COLUMN {old_wants} TO {new_wants}")
    op.execute(f"ALTER TABLE actions RENAME COLUMN {old_key} TO {new_key}")
    op.create_index(new_index, "actions", [new_key, "due_at", new_wants, "id"], unique=False)


OLD = ("ix_actions_owner_order", "owner", "available")
NEW = ("ix_actions_user_order", "user_key", "wants_on")


def upgrade() -> None:
    _rename(OLD, NEW)


def downgrade() -> None:
    _rename(NEW, OLD)
