"""Database tables, engine and migrations: a SQLite file by default (WAL mode, zero set-up),
PostgreSQL or any SQLAlchemy URL in production. The schema is created and upgraded by the
Alembic migrations in ``service/migrations`` when the engine is made."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
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
