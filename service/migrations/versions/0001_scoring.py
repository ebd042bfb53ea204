"""Scoring service: API keys, articles, scored comments, score feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        _created(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('scorer', 'moderator', 'admin')", name="ck_api_keys_role"),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("url", sa.String(2000)),
        _created(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "scored_comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("external_id", sa.String(200), index=True),
        sa.Column("article_id", sa.String(200)),
        sa.Column("parent_id", sa.String(200)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("community_id", sa.String(200)),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id")),
        _created(),
    )
    op.create_table(
        "score_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("article_text", sa.Text),
        sa.Column("parent_text", sa.Text),
        sa.Column("attribute", sa.String(50), nullable=False),
        sa.Column("requested_name", sa.String(50), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("community_id", sa.String(200), index=True),
        sa.Column("client_token", sa.String(200)),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id")),
        _created(),
    )


def downgrade() -> None:
    for table in ("score_feedback", "scored_comments", "articles", "api_keys"):
        op.drop_table(table)
