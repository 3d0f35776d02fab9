"""Record where the text was generated and what ranked the samples.

Revision ID: 0003
Revises: 0002

`attempts`: `backend` (`local` or `server`), `server_url` (an OpenAI-compatible server's URL,
never with credentials), `rm_index` (the `sample_index` of the RM@N pick, so that a reopened
attempt finds it by index rather than by matching a float) and `scorer` (the name of what
ranked the samples). `samples`: `weight` (its weight in the reward-weighted vote). All
nullable: rows from before stay as they were, with NULL in each new column. No CHECK on
`backend`: SQLite cannot relax one later without rebuilding the table, and the store
validates it anyway.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In this order (as first released): the columns' order in each table follows it.
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("weight", sa.Double))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("backend", sa.String(16)))
        batch.add_column(sa.Column("server_url", sa.Text))
        batch.add_column(sa.Column("rm_index", sa.Integer))
        batch.add_column(sa.Column("scorer", sa.Text))


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
