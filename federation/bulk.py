"""Reading and writing many rows at once, within the session's transaction.

A peer's backfill writes tens of thousands of rows. On PostgreSQL, executemany sends one
INSERT per row, which the server plans and executes one by one; COPY streams the same rows
for a fraction of the cost on both ends. SQLite runs executemany in-process, already fast.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, any_, bindparam, insert
from sqlalchemy.dialects.postgresql import ARRAY
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
    complete = [_complete(row, columns) for row in rows]
    if dialect.name != "postgresql":
        connection.execute(insert(table), complete)
        return
    plan = _copy_plan(table, dialect)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(_copy_statement(table, dialect)) as copy:
        for row in complete:
            copy.write_row(
                [row[name] if convert is None else convert(row[name]) for name, convert in plan]
            )


_Columns = tuple[tuple[str, Callable[[], Any]], ...]


def _complete(row: Mapping[str, Any], columns: _Columns) -> Mapping[str, Any]:
    """The row with every column, a missing one taking its default."""
    if all(name in row for name, _ in columns):
        return row
    return {name: row[name] if name in row else default() for name, default in columns}


@functools.cache
def _columns(table: Table) -> _Columns:
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
def _copy_plan(table: Table, dialect: Dialect) -> tuple[tuple[str, _Processor], ...]:
    """Each column's name and conversion: the column type's own (UTC datetimes...), as an INSERT
    applies it. JSON is the exception: psycopg's dialect leaves it to the driver's parameter
    adapter, which COPY does not use, so it is written as JSON text here."""
    return tuple(
        (
            column.name,
            json.dumps if isinstance(column.type, JSON) else column.type.bind_processor(dialect),
        )
        for column in table.columns
    )


@functools.cache
def _copy_statement(table: Table, dialect: Dialect) -> str:
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(column.name) for column in table.columns)
    return f"COPY {quote.format_table(table)} ({names}) FROM STDIN"


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)` (a column, or a mapped attribute); on PostgreSQL `column =
    ANY(array)`, one parameter instead of hundreds: for a page's 500 ids, planning the IN list
    costs more than the lookups."""
    expression: ColumnElement[Any] = column.expression
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam("among", list(values), type_=ARRAY(expression.type), unique=True)
        return expression == any_(array)
    return expression.in_(values)
