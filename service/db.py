"""Database tables, engine and migrations: a SQLite file by default (WAL mode, zero set-up),
PostgreSQL or any SQLAlchemy URL in production. The schema is created and upgraded by the
Alembic migrations in ``service/migrations`` when the engine is made."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Article(Base):
    """An article registered once by the publisher's id; comments refer to it by ``article_id``."""

    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ScoredComment(Base):
    """Every comment the scoring API scored (unless the caller said not to store it), with the
    model version that scored it: the audit trail, and the texts later calls name as parents."""

    __tablename__ = "scored_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    article_id: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64), index=True)
    scores: Mapped[dict] = mapped_column(JSON)
    flags: Mapped[list] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20), default="native")
    community_id: Mapped[str | None] = mapped_column(String(200))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScoreFeedback(Base):
    """A score a client says is right (Perspective ``comments:suggestscore``), e.g. Coral's
    moderator decision (approve = 0, reject = 1): labelled data for the next model."""

    __tablename__ = "score_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    article_text: Mapped[str | None] = mapped_column(Text)
    parent_text: Mapped[str | None] = mapped_column(Text)
    attribute: Mapped[str] = mapped_column(String(50))
    requested_name: Mapped[str] = mapped_column(String(50))
    value: Mapped[float] = mapped_column(Float)
    community_id: Mapped[str | None] = mapped_column(String(200), index=True)
    client_token: Mapped[str | None] = mapped_column(String(200))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---- moderation queue ---------------------------------------------------------------------
QUEUE_STATUSES = ("scoring", "pending", "flagged", "approved", "rejected")
DECISION_ACTIONS = ("approve", "reject", "hold", "undo")
REASONS = ("incivility", "personal_attack", "off_topic", "spam", "hate", "other")


class QueueComment(Base):
    """A comment ingested for moderation, by the publisher's id (unique: ingesting it twice
    finds the first), with the scores the model gave it and its place in the queue.

    ``status`` is ``scoring`` from ingestion until the scores are stored (a crash in between
    leaves it there for the start-up re-scoring), then what the rules made of it, then what a
    moderator decided. ``version`` grows with every status change: a change is a conditional
    UPDATE on the version the caller read, so of two concurrent deciders exactly one wins."""

    __tablename__ = "queue_comments"
    __table_args__ = (
        CheckConstraint("status IN ('scoring', 'pending', 'flagged', 'approved', 'rejected')",
                        name="ck_queue_comments_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[str] = mapped_column(String(200), unique=True)
    article_id: Mapped[str | None] = mapped_column(ForeignKey("articles.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(200))
    thread_path: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[str] = mapped_column(String(200), index=True)
    author_name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    posted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="scoring", index=True)
    scores: Mapped[dict | None] = mapped_column(JSON)
    flags: Mapped[list | None] = mapped_column(JSON)
    flag_list: Mapped[str] = mapped_column(Text, default="")  # ",a,b,": portable LIKE filter
    spans: Mapped[dict | None] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String(100))
    scored_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    risk: Mapped[float | None] = mapped_column(Float, index=True)
    risk_total: Mapped[float | None] = mapped_column(Float)
    rule: Mapped[str | None] = mapped_column(String(300))
    decision_id: Mapped[int | None] = mapped_column(Integer)  # the decision in force
    version: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_by_name: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Decision(Base):
    """One decision on a queue comment, human or automatic (a rule's), never updated or
    deleted: the audit log and, for human decisions, the retraining data. Unique per
    (comment, version): the same state change cannot be recorded twice."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("queue_comment_id", "version", name="uq_decisions_comment_version"),
        CheckConstraint("action IN ('approve', 'reject', 'hold', 'undo')",
                        name="ck_decisions_action"),
        CheckConstraint("reason IS NULL OR reason IN ('incivility', 'personal_attack', "
                        "'off_topic', 'spam', 'hate', 'other')", name="ck_decisions_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_comment_id: Mapped[int] = mapped_column(ForeignKey("queue_comments.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    previous_status: Mapped[str] = mapped_column(String(20))
    previous_decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    undoes_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    reason: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    rule: Mapped[str | None] = mapped_column(String(300))
    moderator: Mapped[str | None] = mapped_column(String(200))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    scores: Mapped[dict | None] = mapped_column(JSON)
    flags: Mapped[list | None] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                    index=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    # WAL + NORMAL: a commit survives a crash of the service (not a power cut before the next
    # checkpoint) without an fsync per request, which would cap scoring at the disk's pace
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str, *, migrate: bool = True) -> Engine:
    """An engine for ``url`` with the schema upgraded to the latest migration."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if migrate:
        upgrade(engine)
    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` (idempotent)."""
    import logging

    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic").setLevel(logging.WARNING)  # "setup plugin ..." at every start
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
