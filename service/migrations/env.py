"""Alembic environment: runs on the connection ``service.db.upgrade`` passes in, or on
``sqlalchemy.url`` when run from the ``alembic`` command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from service.db import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
