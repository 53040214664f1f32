"""Throw-away PostgreSQL databases on the server at 127.0.0.1:5432 (trust auth), one per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_HOST = os.environ.get("CURMAIL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CURMAIL_TEST_PG_PORT", "5432"))
MAINTENANCE_DB = os.environ.get("CURMAIL_TEST_PG_DB", "test")
PG_USERS = ("postgres", "root")


class PostgresUnavailable(RuntimeError):
    """psycopg is missing or the server does not accept us; the fixture turns this into missing()."""


def _connect_maintenance():
    try:
        import psycopg
    except ImportError as exc:
        raise PostgresUnavailable("psycopg is not installed (pip install 'curmail[postgres]')") from exc
    errors = []
    for user in PG_USERS:
        try:
            connection = psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname=MAINTENANCE_DB,
                autocommit=True, connect_timeout=3,
            )
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip()}")
            continue
        return connection, user
    raise PostgresUnavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT}/{MAINTENANCE_DB} refused: {'; '.join(errors)}")


@contextmanager
def fresh_database(prefix: str = "curmail_test") -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it afterwards."""
    connection, user = _connect_maintenance()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
        finally:
            # FORCE ends sessions the test's engine left open (PostgreSQL 13+).
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()
