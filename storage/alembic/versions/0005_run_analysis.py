"""Keep each run's analysis: every claim's verdict, the checked vote, the reasoning map.

Revision ID: 0005
Revises: 0004

`samples`: `claims` (JSON: the step checker's claims in the solution, each with its verdict
and, when wrong, its right value; NULL: not checked) and `wrong_steps` (how many of its steps
hold a wrong claim). `attempts`: the checked vote (`checked_answer`, `checked_count` of the
kept samples `checked_kept`, a JSON list of sample indices; `checked_fell_back` when none of
them had an answer and it is Maj@N of all; `checked_agrees` whether it is Maj@N's answer),
`has_wrong_step` (any solution of the attempt holds a wrong claim) and `reasoning_map` (JSON:
the map's nodes and splits, as `judgements.map_data.ReasoningMap.to_dict` writes them). All
nullable: attempts logged before stay as they were, NULL in each new column, and replay them
as "not checked".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("claims", sa.JSON))
        batch.add_column(sa.Column("wrong_steps", sa.Integer))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("checked_answer", sa.Text))
        batch.add_column(sa.Column("checked_count", sa.Integer))
        batch.add_column(sa.Column("checked_kept", sa.JSON))
        batch.add_column(sa.Column("checked_fell_back", sa.Boolean(create_constraint=False)))
        batch.add_column(sa.Column("checked_agrees", sa.Boolean(create_constraint=False)))
        batch.add_column(sa.Column("has_wrong_step", sa.Boolean(create_constraint=False)))
        batch.add_column(sa.Column("reasoning_map", sa.JSON))


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
