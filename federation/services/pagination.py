"""Keyset pagination: opaque cursors over a stable, unique sort key."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from federation import text as text_policy
from federation.services.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class SortKey:
    """One column of the sort key, with how its value travels inside a cursor."""

    column: InstrumentedAttribute[Any]
    parse: Callable[[str], Any]


def uuid_key(column: InstrumentedAttribute[Any]) -> SortKey:
    return SortKey(column, _uuid_value)


def datetime_key(column: InstrumentedAttribute[Any]) -> SortKey:
    return SortKey(column, _aware_datetime)


def date_key(column: InstrumentedAttribute[Any]) -> SortKey:
    return SortKey(column, dt.date.fromisoformat)


def text_key(column: InstrumentedAttribute[Any]) -> SortKey:
    return SortKey(column, _text_value)


def _text_value(value: str) -> str:
    # A cursor is the client's text: it must not bring into SQL what the API's fields refuse
    # (a NUL, a lone surrogate from a "\ud800" escape).
    if not isinstance(value, str) or text_policy.refusal(value) is not None:
        raise ValueError("not a text key")
    return value


def _uuid_value(value: str) -> uuid.UUID:
    # uuid.UUID(5) raises AttributeError, which a crafted cursor must not turn into a 500.
    if not isinstance(value, str):
        raise ValueError("not a uuid key")
    return uuid.UUID(value)


def _aware_datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return parsed.astimezone(dt.UTC)  # may overflow near year 1 or 9999: a bad cursor


def _invalid() -> InvalidInput:
    return InvalidInput(
        "invalid cursor", {"cursor": ["Not a cursor from this API."]}, location="query"
    )


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_text(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The key the previous page ended on; a tampered or foreign cursor is a 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("arity")
        return [key.parse(value) for key, value in zip(keys, values, strict=True)]
    except (binascii.Error, ValueError, TypeError, OverflowError) as exc:
        raise _invalid() from exc


def _after(query: Select[T], columns: Sequence[Any], after: list[Any] | None) -> Select[T]:
    """`query` from just after the key a previous page ended on."""
    if after is None:
        return query
    # Typed binds, so the value is stored-form (UTC, uuid) exactly like the column.
    bound = [literal(v, column.type) for column, v in zip(columns, after, strict=True)]
    return query.where(tuple_(*columns) > tuple_(*bound))


def paginate(
    session: Session,
    query: Select[T],
    keys: Sequence[SortKey],
    *,
    cursor: str | None,
    limit: int,
    accept: Callable[[T], bool] | None = None,
) -> Page[T]:
    """One page of `query` in key order, starting after `cursor`.

    `accept` filters rows that SQL alone cannot judge (a recurring event whose occurrences
    miss the window); the loop keeps reading so a page is only short when the data ends.
    """
    columns = [key.column for key in keys]
    query = query.order_by(*columns)
    after = decode_cursor(cursor, keys) if cursor else None
    items: list[T] = []
    batch = limit + 1
    while True:
        page_query = _after(query, columns, after)
        rows = list(session.scalars(page_query.limit(batch)).unique())
        for row in rows:
            if accept is None or accept(row):
                items.append(row)
                if len(items) > limit:
                    last = items[limit - 1]
                    values = [getattr(last, key.column.key) for key in keys]
                    return Page(items=items[:limit], next_cursor=encode_cursor(values))
        if len(rows) < batch:
            return Page(items=items, next_cursor=None)
        after = [getattr(rows[-1], key.column.key) for key in keys]


def paginate_parts(
    session: Session,
    queries: Sequence[Select[T]],
    keys: Sequence[SortKey],
    *,
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """One page of the rows of `queries` in key order, where every row of a query comes
    before every row of the next (so each is read in its own order, only as far as the page
    needs); cursors are those of `paginate`."""
    columns = [key.column for key in keys]
    after = decode_cursor(cursor, keys) if cursor else None
    items: list[T] = []
    for query in queries:
        if len(items) > limit:
            break
        query = _after(query.order_by(*columns), columns, after)
        items += list(session.scalars(query.limit(limit + 1 - len(items))).unique())
    if len(items) <= limit:
        return Page(items=items, next_cursor=None)
    last = items[limit - 1]
    return Page(
        items=items[:limit], next_cursor=encode_cursor([getattr(last, k.column.key) for k in keys])
    )
