"""The Alembic migrations build exactly the tables the models describe, and rerun safely."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.db import Base, make_engine


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrading_twice_is_harmless_and_sqlite_uses_wal(tmp_path):
    url = f"sqlite:///{tmp_path}/w.db"
    make_engine(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
