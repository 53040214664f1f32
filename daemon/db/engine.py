"""Engine and session set-up: SQLite in WAL mode with foreign keys and full fsync, or PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapper, Session, sessionmaker

from daemon.errors import StorageError

SQLITE_BUSY_TIMEOUT_S = 15
SQLITE_BEGIN_OPTION = "curmail_sqlite_begin"


def make_engine(url: str, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S, schema: str | None = None) -> Engine:
    """Create the engine; for SQLite, create the parent folder and set the durability pragmas.

    `schema` (PostgreSQL) puts every table of this installation in its own schema: several
    organisations share one database server and never see each other's rows.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the database folder for {parsed.database}: {exc}") from exc
        engine = create_engine(url, connect_args={"timeout": busy_timeout})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            # WAL lets the CLI read while the daemon writes; FULL makes every commit survive power loss,
            # which is the promise behind "commit before flagging the message in IMAP".
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            # Units of work that write (`transaction()` below) ask for IMMEDIATE: the write lock is taken
            # up front, so a busy database waits (busy_timeout) instead of failing when a read later
            # turns into a write. Readers (CLI, status, metrics) stay DEFERRED and never wait in WAL mode.
            mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ModuleNotFoundError as exc:
        raise StorageError(f"{url.split(':', 1)[0]}: driver not installed ({exc.name}); "
                           "install curmail[postgres]") from exc
    if schema:
        # search_path points at a schema that may not exist yet; create it before anything else runs.
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":
        event.listen(factory, "before_flush", _number_new_rows)
    return factory


def _number_new_rows(session: Session, _context: object, _instances: object) -> None:
    """Give new rows their integer keys before an SQLite flush, so that they go in one executemany.

    SQLite cannot return generated keys in parameter order, so SQLAlchemy otherwise INSERTs new rows
    one statement each (its "insertmanyvalues" notes); at intake that is three statements a message.
    max(id) + 1 is the key SQLite itself would pick. It is safe because a writer holds the write lock
    from BEGIN IMMEDIATE (`transaction()`), and a deferred transaction whose snapshot is stale cannot
    write at all (SQLITE_BUSY_SNAPSHOT), so no other connection can take the same numbers.
    """
    pending: dict[Mapper[Any], list[Any]] = defaultdict(list)
    for obj in session.new:
        mapper = inspect(obj).mapper
        keys = mapper.primary_key
        if len(keys) == 1 and isinstance(keys[0].type, Integer) and mapper.get_property_by_column(keys[0]) \
                and getattr(obj, mapper.get_property_by_column(keys[0]).key) is None:
            pending[mapper].append(obj)
    for mapper, objs in pending.items():
        if len(objs) < 2:
            continue  # one row is one statement either way
        column = mapper.primary_key[0]
        attribute = mapper.get_property_by_column(column).key
        top = session.connection().execute(select(func.max(column))).scalar() or 0
        # In the order they were added: case numbers follow the order the messages arrived.
        for number, obj in enumerate(sorted(objs, key=lambda o: inspect(o).insert_order), start=top + 1):
            setattr(obj, attribute, number)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, map database errors to StorageError."""
    session = factory()
    try:
        if session.get_bind().dialect.name == "sqlite":
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise StorageError(f"database error: {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
