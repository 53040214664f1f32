"""Alembic environment: migrations run on the engine handed in by daemon.db.migrate."""

from alembic import context

from daemon.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table copies for ALTER
    )
    context.run_migrations()
