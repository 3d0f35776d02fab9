"""Follow-up conversations: `follow_up_turns`, one row per question or answer.

Revision ID: 0004
Revises: 0003

Tied to the attempt (deleted with it) and to one of its solutions by `sample_index` (greedy =
0, samples 1..N, as in `samples`); a question at an even `turn_index`, its answer at the next
odd one, unique per attempt and solution. Ownership is the attempt's session, as for its
samples. A new table only: the rows from before are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow_up_turns",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("attempt_id", sa.String(32), sa.ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sample_index", sa.Integer, nullable=False),
        sa.Column("turn_index", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("finish_reason", sa.String(16)),
        sa.Column("tokens", sa.Integer),
        sa.Column("model_id", sa.Text),
        sa.UniqueConstraint("attempt_id", "sample_index", "turn_index", name="uq_follow_up_turns_position"),
        sa.CheckConstraint("role IN ('student', 'assistant')", name="ck_follow_up_turns_role"),
    )


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
