"""override ids are never reused on SQLite

An override's id is how ``override list`` names it and how a switch it caused records it
("override 7"). SQLite gives a new row the largest id plus one, so removing the newest override
let the next one take its id. ``AUTOINCREMENT`` makes SQLite remember the largest id ever given,
as PostgreSQL's sequence does already.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "roster_overrides", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "roster_overrides", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
