"""Sessions, attempts, samples and feedback as first released.

Revision ID: 0001
Revises:

Written by hand (as every revision here): the same tables, columns, constraints and indexes
as the hand-written migration `0001_initial` it replaces, so that a database built by either
has the same schema (tests/test_storage_migrations.py compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("session_key", sa.String(64), sa.ForeignKey("sessions.key", ondelete="CASCADE"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("model_id", sa.Text, nullable=False),
        sa.Column("precision", sa.String(16), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("n_samples", sa.Integer),
        sa.Column("temperature", sa.Double),
        sa.Column("top_p", sa.Double),
        sa.Column("max_new_tokens", sa.Integer),
        sa.Column("seed", sa.BigInteger),
        sa.Column("queued_s", sa.Double),
        sa.Column("ttft_s", sa.Double),
        sa.Column("total_s", sa.Double),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("generated_tokens", sa.Integer),
        sa.Column("tokens_per_s", sa.Double),
        sa.Column("greedy_answer", sa.Text),
        sa.Column("maj_answer", sa.Text),
        sa.Column("maj_count", sa.Integer),
        sa.Column("maj_n", sa.Integer),
        sa.Column("rm_answer", sa.Text),
        sa.Column("rm_score", sa.Double),
        sa.Column("rm_label", sa.String(16)),
        sa.Column("weighted_answer", sa.Text),
        sa.Column("agreement", sa.Text),
        sa.Column("all_agree", sa.Boolean(create_constraint=False)),
        sa.Column("error", sa.Text),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'cancelled', 'error', 'interrupted')",
            name="ck_attempts_status",
        ),
    )
    op.create_index("ix_attempts_session_started", "attempts", ["session_key", "started_at"])
    op.create_index("ix_attempts_started", "attempts", ["started_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("attempt_id", sa.String(32), sa.ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("session_key", sa.String(64), sa.ForeignKey("sessions.key", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16)),
        sa.Column("correct_answer", sa.Text),
        sa.Column("comment", sa.Text),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("sample_index", sa.Integer),
        sa.CheckConstraint("verdict IS NULL OR verdict IN ('right', 'wrong')", name="ck_feedback_verdict"),
        sa.CheckConstraint("author IN ('student', 'teacher')", name="ck_feedback_author"),
    )
    op.create_index("ix_feedback_attempt", "feedback", ["attempt_id"])
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attempt_id", sa.String(32), sa.ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sample_index", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("cluster", sa.Integer),
        sa.Column("reward", sa.Double),
        sa.Column("step_rewards", sa.JSON),
        sa.Column("tokens", sa.Integer),
        sa.Column("finish_reason", sa.String(16)),
        sa.Column("mean_logprob", sa.Double),
        sa.UniqueConstraint("attempt_id", "sample_index", name="uq_samples_attempt_index"),
        sa.CheckConstraint("kind IN ('greedy', 'sampled')", name="ck_samples_kind"),
    )


def downgrade() -> None:
    raise NotImplementedError("The session log's migrations only go forward: restore a backup instead.")
