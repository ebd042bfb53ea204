"""Moderation queue: ingested comments with their scores and status, and the decision log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comment_id", sa.String(200), nullable=False),
        sa.Column("article_id", sa.String(200), sa.ForeignKey("articles.id")),
        sa.Column("parent_id", sa.String(200)),
        sa.Column("thread_path", sa.Text, nullable=False),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("scores", sa.JSON),
        sa.Column("flags", sa.JSON),
        sa.Column("flag_list", sa.Text, nullable=False),
        sa.Column("spans", sa.JSON),
        sa.Column("model", sa.String(100)),
        sa.Column("scored_at", sa.DateTime(timezone=True)),
        sa.Column("risk", sa.Float),
        sa.Column("risk_total", sa.Float),
        sa.Column("rule", sa.String(300)),
        sa.Column("decision_id", sa.Integer),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_by_name", sa.String(200)),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("comment_id", name="uq_queue_comments_comment_id"),
        sa.CheckConstraint("status IN ('scoring', 'pending', 'flagged', 'approved', 'rejected')",
                           name="ck_queue_comments_status"),
    )
    for column in ("article_id", "author_id", "posted_at", "status", "risk", "scored_at"):
        op.create_index(f"ix_queue_comments_{column}", "queue_comments", [column])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("queue_comment_id", sa.Integer, sa.ForeignKey("queue_comments.id"),
                  nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("previous_status", sa.String(20), nullable=False),
        sa.Column("previous_decision_id", sa.Integer, sa.ForeignKey("decisions.id")),
        sa.Column("undoes_id", sa.Integer, sa.ForeignKey("decisions.id")),
        sa.Column("reason", sa.String(30)),
        sa.Column("note", sa.Text),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("rule", sa.String(300)),
        sa.Column("moderator", sa.String(200)),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id")),
        sa.Column("scores", sa.JSON),
        sa.Column("flags", sa.JSON),
        sa.Column("model", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("queue_comment_id", "version", name="uq_decisions_comment_version"),
        sa.CheckConstraint("action IN ('approve', 'reject', 'hold', 'undo')",
                           name="ck_decisions_action"),
        sa.CheckConstraint("reason IS NULL OR reason IN ('incivility', 'personal_attack', "
                           "'off_topic', 'spam', 'hate', 'other')", name="ck_decisions_reason"),
    )
    op.create_index("ix_decisions_queue_comment_id", "decisions", ["queue_comment_id"])
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("queue_comments")
