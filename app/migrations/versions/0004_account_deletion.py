"""account deletion: users.deleting_at

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Expand only: a nullable column and a partial index, so code that predates it keeps working
while the new code rolls out.
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
    op.add_column("users", sa.Column("deleting_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_users_deleting",
        "users",
        ["deleting_at"],
        postgresql_where=sa.text("deleting_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_deleting", table_name="users")
    op.drop_column("users", "deleting_at")
