"""Alembic environment: runs on the connection hub.db.migrate() hands over,
or on BRANCHLIVE_DATABASE_URL when run from the alembic command line."""

from alembic import context
from sqlalchemy import create_engine

import hub.models  # noqa: F401  (registers every table)
from hub.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from hub.config import Settings

    engine = create_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
