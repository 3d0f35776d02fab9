"""Keep how clear each vote's win was.

Revision ID: 0008
Revises: 0007

`attempts.vote_standings` (JSON): `{"majority": ..., "checked": ...}`, each the vote's standing
as `judgements.answers.Standing.to_dict` writes it (a clear majority, a tie and its tied
answers, no majority, no answer) with `first_sample`, the winner's first sample (its index: the
tie-break). The run's analysis computes them once; History and the Teacher tab read them
back. NULL for attempts logged before: their standings are read back from the samples' logged
clusters (`storage.review`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("vote_standings", sa.JSON))


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
