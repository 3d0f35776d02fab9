"""Record which process runs an attempt, so that start-up only interrupts dead ones' work.

Revision ID: 0002
Revises: 0001

Attempts that were `running` before this revision have no owner; start-up treats them as
interrupted (no process of this version can be running them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: on SQLite a plain ALTER TABLE ... ADD COLUMN and CREATE INDEX (no table copy).
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("owner", sa.Text))
        batch.create_index("ix_attempts_status", ["status"])


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
