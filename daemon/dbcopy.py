"""`curmail db copy SRC DST`: copy a whole curmail database (SQLite → PostgreSQL) table by table.

Tables go in foreign-key order in batches; the target gets the schema by migration first and must
be empty. Afterwards PostgreSQL's id sequences are moved past the copied ids, or the first new case
would collide with case 1. Stop the daemon while copying: a consistent source is the caller's job.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, Integer, func, select, text

from daemon.db.engine import make_engine
from daemon.db.migrate import current_revision, head_revision, upgrade
from daemon.db.models import Base
from daemon.errors import StorageError

log = logging.getLogger("curmail.dbcopy")

BATCH_ROWS = 500


@dataclass
class CopyReport:
    """Rows copied per table, in copy order."""

    rows: dict[str, int] = field(default_factory=dict)


def _check_source(source: Engine) -> None:
    current, head = current_revision(source), head_revision(source)
    if current is None:
        raise StorageError("the source has no curmail schema")
    if current != head:
        raise StorageError(f"the source schema is {current}, not {head}: run `curmail db upgrade` on it first")


def _check_empty(target: Engine) -> None:
    with target.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if connection.scalar(select(func.count()).select_from(table)):
                raise StorageError(f"the target is not empty (table {table.name} has rows); refusing to mix data")


def _fix_sequences(target: Engine) -> None:
    """PostgreSQL: set each serial id sequence to max(id), so new rows get fresh numbers."""
    if target.dialect.name != "postgresql":
        return
    with target.begin() as connection:
        for table in Base.metadata.sorted_tables:
            for column in table.primary_key.columns:
                if not isinstance(column.type, Integer):
                    continue
                sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                             {"t": f'"{table.name}"', "c": column.name})
                if sequence is None:
                    continue
                connection.execute(
                    text(f'SELECT setval(:s, COALESCE((SELECT max("{column.name}") FROM "{table.name}"), 1), '
                         f'(SELECT max("{column.name}") FROM "{table.name}") IS NOT NULL)'),
                    {"s": sequence},
                )


def copy_database(source_url: str, target_url: str, batch_rows: int = BATCH_ROWS) -> CopyReport:
    """Copy every table from source to an empty, freshly migrated target; return row counts."""
    source, target = make_engine(source_url), make_engine(target_url)
    report = CopyReport()
    try:
        _check_source(source)
        upgrade(target)
        _check_empty(target)
        with source.connect() as reader, target.begin() as writer:
            for table in Base.metadata.sorted_tables:
                copied = 0
                order = list(table.primary_key.columns)
                result = reader.execution_options(stream_results=True, yield_per=batch_rows).execute(
                    select(table).order_by(*order))
                for partition in result.mappings().partitions(batch_rows):
                    writer.execute(table.insert(), [dict(row) for row in partition])
                    copied += len(partition)
                report.rows[table.name] = copied
                log.info("copied %s rows of %s", copied, table.name)
        _fix_sequences(target)
    finally:
        source.dispose()
        target.dispose()
    return report


def add_db_copy_parser(db_subparsers: argparse._SubParsersAction) -> None:
    parser = db_subparsers.add_parser("copy", help="copy all data to another, empty database (SQLite → PostgreSQL)")
    parser.add_argument("source", metavar="SRC", help="source URL, e.g. sqlite:////var/lib/curmail/curmail.db")
    parser.add_argument("target", metavar="DST", help="target URL, e.g. postgresql+psycopg://curmail@/curmail")


def cmd_db_copy(args: argparse.Namespace) -> int:
    report = copy_database(args.source, args.target)
    for name, count in report.rows.items():
        print(f"{name}: {count}")
    print(f"copied {sum(report.rows.values())} rows in {len(report.rows)} tables")
    return 0
