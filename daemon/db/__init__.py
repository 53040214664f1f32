"""Database layer: typed SQLAlchemy models, engine set-up for SQLite and PostgreSQL, and migrations."""
