"""Inserting many rows at once, within the session's transaction.

A peer's backfill writes tens of thousands of rows. On PostgreSQL, executemany sends one
INSERT per row, which the server plans and executes one by one; COPY streams the same rows
for a fraction of the cost on both ends. SQLite runs executemany in-process, already fast.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

_Processor = Callable[[Any], Any] | None


def insert_rows(session: Session, table: FromClause, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (by column name; a missing column takes its default) into `table`."""
    assert isinstance(table, Table)
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = _columns(table)
    complete = [
        {name: row[name] if name in row else default() for name, default in columns} for row in rows
    ]
    if dialect.name != "postgresql":
        connection.execute(insert(table), complete)
        return
    names, processors = _copy_plan(table, dialect)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(_copy_statement(table, dialect)) as copy:
        for row in complete:
            copy.write_row(
                [
                    row[name] if process is None else process(row[name])
                    for name, process in zip(names, processors, strict=True)
                ]
            )


@functools.cache
def _columns(table: Table) -> tuple[tuple[str, Callable[[], Any]], ...]:
    """Each column's name and what it holds when a row leaves it out (as INSERT would do)."""

    def default_of(column: Any) -> Callable[[], Any]:
        default = column.default
        if default is None:
            return lambda: None
        if default.is_callable:
            return lambda: default.arg(None)  # SQLAlchemy wraps the function to take a context
        return lambda: default.arg

    return tuple((column.name, default_of(column)) for column in table.columns)


@functools.cache
def _copy_plan(table: Table, dialect: Dialect) -> tuple[tuple[str, ...], tuple[_Processor, ...]]:
    # The column types' own conversions (UTC datetimes...), as an INSERT applies them. JSON is
    # the exception: psycopg's dialect leaves it to the driver's parameter adapter, which
    # COPY does not use, so it is written as JSON text here.
    names = tuple(column.name for column in table.columns)
    processors = tuple(
        json.dumps if isinstance(column.type, JSON) else column.type.bind_processor(dialect)
        for column in table.columns
    )
    return names, processors


@functools.cache
def _copy_statement(table: Table, dialect: Dialect) -> str:
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(column.name) for column in table.columns)
    return f"COPY {quote.format_table(table)} ({names}) FROM STDIN"
