"""Checked work: `work_checks`, one row per "Check my work" check, an attempt of its own kind.

Revision ID: 0006
Revises: 0005

A check is a student's own solution judged by the app (`judgements.work_check`): the problem,
the solution as typed, its steps as split, one verdict per step, the earliest wrong step, the
judges used and what each said, the notices about the input, and the hints given (a JSON list,
appended as the student asks). Owned by a browser session like an attempt (deleted with it);
read back only by that session or a teacher. A new table only: the rows from before are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_checks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("session_key", sa.String(64), sa.ForeignKey("sessions.key", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("solution", sa.Text, nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("first_wrong_step", sa.Integer),
        sa.Column("judges", sa.JSON, nullable=False),
        sa.Column("notices", sa.JSON, nullable=False),
        sa.Column("hints", sa.JSON, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("model_id", sa.Text),
        sa.CheckConstraint("status IN ('checked', 'stopped', 'refused')", name="ck_work_checks_status"),
    )
    op.create_index("ix_work_checks_session_created", "work_checks", ["session_key", "created_at"])
    op.create_index("ix_work_checks_created", "work_checks", ["created_at"])


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
