"""Keep the code runs of solutions that reason with Python.

Revision ID: 0007
Revises: 0006

`samples.tool_calls` (JSON): the solution's code runs in order, each `{code, output, ok,
elapsed_s}` as `judgements.solution.ToolCall.to_dict` writes it: the cell the model wrote, what
the model was shown, whether it ran without error, the sandbox's seconds. NULL for a solution
that ran no code, and for every solution logged before (their text is all they had).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON))


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
