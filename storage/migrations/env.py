"""Alembic's environment: migrations run on the caller's connection, or on DATABASE_URL from the alembic CLI."""

import os

from alembic import context

from storage.models import Base

connection = context.config.attributes.get("connection")
if connection is not None:  # storage.db.migrate and the tests hand over an open connection
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic -c alembic.ini …` from a checkout
    from storage.db import make_engine

    engine = make_engine(os.environ.get("DATABASE_URL", "sqlite:///resetbot.db"))
    with engine.connect() as cli_connection:
        context.configure(connection=cli_connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
