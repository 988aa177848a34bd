"""The occurrence index: every occurrence of every action, by time, so that a window query
costs what the window holds, however old or long the series in it.

dateutil expands a rule from its first start, and a listing used to expand every series the
SQL filter could not rule out: an open-ended nightly series started years ago cost years of
steps in every window, and the filter (`series_ends_at IS NULL OR series_ends_at > :from`)
kept every open-ended series and could not use the start-time index. Instead, each action's
occurrences are written, at write and ingest time, as rows of `event_occurrences`:

- Up to a horizon: an open-ended series (or one that runs past the horizon) is indexed up
  to HORIZON ahead of the time it was written, and `extend_index` (run by the sync worker, or
  `flask federation index-occurrences`) moves the horizon on. `Event.indexed_until` says how
  far each action is indexed; an occurrence starting later is found by expanding the rule
  from the window (Series.rule_near), so a query past the horizon is still right, only
  slower. NULL means not indexed at all (a database upgraded by plain `alembic upgrade`).
- In day-long segments: one row per day of an occurrence (`segment_start` = its start, +1 day,
  +2 days... while before its end). Every occurrence overlapping [from, to) then has a row with
  `segment_start` in (from - 1 day, to), so the window is one range scan of an ordinary
  B-tree index, on SQLite as on PostgreSQL, however long the occurrences are.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, Select, Table, and_, delete, func, or_, select, union, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from federation.bulk import insert_rows
from federation.models import Event, EventRow, Occurrence, utcnow
from federation.recurrence import LATEST_START, RecurrenceError, Series, parse_series

# How far ahead of its writing an open-ended series is indexed, and how close the horizon may
# come before extend_index moves it on: windows within the next year never expand a rule.
HORIZON = dt.timedelta(days=400)
EXTEND_WITHIN = dt.timedelta(days=370)
SEGMENT = dt.timedelta(days=1)
# The rows one action may need up to the horizon: ten years of a nightly series, or a
# 54-year occurrence. More is refused when written (see `index_size_error`), and an older
# row that needs more is indexed this far and expanded beyond.
MAX_INDEX_ROWS = 20_000
# `indexed_until` of an action whose every occurrence is indexed.
INDEXED_FOREVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
_OCCURRENCES = cast(Table, Occurrence.__table__)
_EVENTS = cast(Table, Event.__table__)
_NO_ID = uuid.UUID(int=0)
# Actions extended per transaction by keep_index.
_BATCH = 200
# Rows inserted per statement (SQLite caps a statement's bound parameters).
_CHUNK = 500


class Indexable(Protocol):
    """What indexing reads of an action (an Event, or an EventRow of a peer's backfill)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def starts_at(self) -> dt.datetime: ...
    @property
    def ends_at(self) -> dt.datetime: ...
    @property
    def timezone(self) -> str: ...
    @property
    def all_day(self) -> bool: ...
    @property
    def rrule(self) -> str | None: ...
    @property
    def series_ends_at(self) -> dt.datetime | None: ...
    @property
    def exdates(self) -> list[dt.datetime]: ...


@dataclass(frozen=True)
class Schedule:
    """An action's schedule before it is stored (to check what indexing it would cost)."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str
    all_day: bool
    rrule: str | None
    exdates: list[dt.datetime]
    series_ends_at: dt.datetime | None
    id: uuid.UUID = _NO_ID


def horizon_at(now: dt.datetime) -> dt.datetime:
    """How far an action written at `now` is indexed: HORIZON ahead, at a UTC midnight (so
    that the actions written on one day share it)."""
    day = (now.astimezone(dt.UTC) + HORIZON).date()
    return min(dt.datetime.combine(day, dt.time(), dt.UTC), LATEST_START)


def series_of(event: Indexable) -> Series | None:
    """The action's series; None for a single action, and for a rule stored by an older
    release that the rules of this one refuse (it is then shown at its first start only:
    never an error, never a long expansion)."""
    if not event.rrule:
        return None
    try:
        return parse_series(
            event.rrule,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            timezone=event.timezone,
            all_day=event.all_day,
        )
    except RecurrenceError:
        return None


@dataclass(frozen=True)
class IndexEntries:
    """The rows an action needs in the index from some start on, and how far they reach."""

    rows: list[dict[str, Any]]
    indexed_until: dt.datetime
    complete: bool  # False: cut at MAX_INDEX_ROWS before the horizon


def _segments(
    event_id: uuid.UUID, occurrences: Iterable[tuple[dt.datetime, dt.datetime]], limit: int
) -> Iterator[dict[str, Any] | dt.datetime]:
    """Rows of each occurrence, in order; once `limit` rows would be passed, the start of
    the first occurrence left out (and nothing more)."""
    count = 0
    for start, end in occurrences:
        days = -(-(end - start) // SEGMENT)  # ceil: a 25-hour occurrence has two rows
        if count + days > limit:
            yield start
            return
        count += days
        for day in range(days):
            yield {
                "event_id": event_id,
                "starts_at": start,
                "ends_at": end,
                "segment_start": start + day * SEGMENT,
            }


def index_entries(
    event: Indexable,
    *,
    now: dt.datetime,
    since: dt.datetime | None = None,
    limit: int = MAX_INDEX_ROWS,
) -> IndexEntries:
    """The rows of the action's occurrences starting in [since, its horizon) (from its first
    start when `since` is None), at most `limit` of them."""
    until = horizon_at(now)
    series = series_of(event)
    occurrences: Iterable[tuple[dt.datetime, dt.datetime]]
    if series is None:
        occurrences = [(event.starts_at, event.ends_at)] if since is None else []
        reach = INDEXED_FOREVER
    else:
        occurrences = series.occurrences(until, since=since, excluding=event.exdates)
        last_start = event.series_ends_at - series.duration if event.series_ends_at else None
        reach = INDEXED_FOREVER if last_start is not None and last_start < until else until
    rows: list[dict[str, Any]] = []
    for item in _segments(event.id, occurrences, limit):
        if isinstance(item, dt.datetime):
            return IndexEntries(rows, indexed_until=item, complete=False)
        rows.append(item)
    return IndexEntries(rows, indexed_until=reach, complete=True)


def index_size_error(event: Indexable, *, now: dt.datetime) -> str | None:
    """Why the action cannot be indexed whole up to its horizon, or None: a bound on what one
    write may cost every later query."""
    entries = index_entries(event, now=now)
    if entries.complete:
        return None
    return (
        f"Needs more than {MAX_INDEX_ROWS} day-long entries up to "
        f"{horizon_at(now):%Y-%m-%d} (an entry per day of each occurrence): "
        "fewer or shorter occurrences, or a later start."
    )


def reindex(session: Session, events: Sequence[Event], *, now: dt.datetime) -> None:
    """Replace the index rows of `events` (already in the database) and record how far each
    reaches. Core statements only: this runs inside flushes, and must not touch versions."""
    if not events:
        return
    ids = [event.id for event in events]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        session.execute(delete(_OCCURRENCES).where(_OCCURRENCES.c.event_id.in_(chunk)))
    rows: list[dict[str, Any]] = []
    reach: dict[dt.datetime, list[Event]] = {}
    for event in events:
        entries = index_entries(event, now=now)
        rows += entries.rows
        reach.setdefault(entries.indexed_until, []).append(event)
    insert_rows(session, _OCCURRENCES, rows)
    table = _EVENTS
    for until, chosen in reach.items():
        for start in range(0, len(chosen), _CHUNK):
            chunk = [event.id for event in chosen[start : start + _CHUNK]]
            session.execute(update(table).where(table.c.id.in_(chunk)).values(indexed_until=until))
        for event in chosen:
            # What the row now holds, without making the object dirty.
            set_committed_value(event, "indexed_until", until)


def index_new(rows: Sequence[EventRow], *, now: dt.datetime) -> list[dict[str, Any]]:
    """The index rows of actions about to be inserted in bulk; sets how far each reaches."""
    entries: list[dict[str, Any]] = []
    for row in rows:
        indexed = index_entries(row, now=now)
        row.indexed_until = indexed.indexed_until
        entries += indexed.rows
    return entries


def extend_index(session: Session, *, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Index up to today's horizon the actions whose index ends too soon (or that were never
    indexed); returns how many were extended. At most `batch` actions a call, so the caller
    commits between calls; the rows are locked (PostgreSQL), so a concurrent edit that
    re-indexes one waits, or is waited for, and neither indexes a rule the other replaced."""
    now = now or utcnow()
    target = horizon_at(now)
    due = select(Event).where(
        or_(Event.indexed_until.is_(None), Event.indexed_until < target - (HORIZON - EXTEND_WITHIN))
    )
    due = due.order_by(Event.indexed_until.is_not(None), Event.indexed_until).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(of=Event, skip_locked=True)
    events = list(session.scalars(due).unique())
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.indexed_until is None:
            entries = index_entries(event, now=now)
            session.execute(delete(_OCCURRENCES).where(_OCCURRENCES.c.event_id == event.id))
        else:
            entries = index_entries(event, now=now, since=event.indexed_until)
        rows += entries.rows
        session.execute(
            update(_EVENTS)
            .where(_EVENTS.c.id == event.id)
            .values(indexed_until=entries.indexed_until)
        )
        set_committed_value(event, "indexed_until", entries.indexed_until)
    insert_rows(session, _OCCURRENCES, rows)
    return len(events)


def keep_index(factory: sessionmaker[Session], *, now: dt.datetime | None = None) -> int:
    """Run extend_index until nothing is due, a transaction per batch; how many actions it
    extended. The sync worker runs it every round; `db upgrade` after a migration."""
    total = 0
    while True:
        with factory() as session:
            extended = extend_index(session, now=now, batch=_BATCH)
            session.commit()
        total += extended
        if extended < _BATCH:
            return total


# --- window queries ---------------------------------------------------------------------


def overlapping(start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    """Index rows of occurrences overlapping [start, end): one range of `segment_start`."""
    return and_(
        Occurrence.segment_start > start - SEGMENT,
        Occurrence.segment_start < end,
        Occurrence.ends_at > start,
    )


def not_indexed_within(start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    """Actions that may have an occurrence overlapping [start, end) that the index does not
    hold (it starts past the action's horizon, or the action is not indexed): these few are
    expanded (see `expand_within`)."""
    return and_(
        or_(Event.indexed_until.is_(None), Event.indexed_until < end),
        Event.starts_at < end,
        or_(Event.series_ends_at.is_(None), Event.series_ends_at > start),
    )


def in_window(start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    """Actions with an occurrence overlapping [start, end): found in the index, or among the
    few it does not cover whole (which the caller checks with `expand_within`)."""
    hits = select(Occurrence.event_id).where(overlapping(start, end))
    rest = select(Event.id).where(not_indexed_within(start, end))
    return Event.id.in_(union(hits, rest))


def covered(event: Event, end: dt.datetime) -> bool:
    """Whether the index holds every occurrence of `event` starting before `end`."""
    return event.indexed_until is not None and event.indexed_until >= end


def first_overlapping(
    event: Indexable, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The action's first occurrence overlapping [start, end), expanded from near `start`."""
    duration = event.ends_at - event.starts_at
    series = series_of(event)
    if series is None:
        first = event.starts_at
        return (first, event.ends_at) if first < end and event.ends_at > start else None
    found = series.first_start_between(
        max(start - duration, event.starts_at - dt.timedelta(seconds=1)), end, event.exdates
    )
    return (found, found + duration) if found is not None else None


def next_starts(
    session: Session,
    query: Select[Any],
    *,
    start: dt.datetime,
    end: dt.datetime,
    limit: int,
) -> list[tuple[uuid.UUID, dt.datetime]]:
    """(event id, start of its first occurrence overlapping [start, end)) of the actions that
    `query` (a select of Event ids with filters) keeps, soonest first, at most `limit`."""
    first = func.min(Occurrence.starts_at)
    indexed = (
        select(Occurrence.event_id, first)
        .where(overlapping(start, end), Occurrence.event_id.in_(query))
        .group_by(Occurrence.event_id)
        .order_by(first, Occurrence.event_id)
        .limit(limit)
    )
    found = {event_id: moment for event_id, moment in session.execute(indexed).all()}
    rest = query.where(not_indexed_within(start, end))
    for event in session.scalars(select(Event).where(Event.id.in_(rest))).unique():
        hit = first_overlapping(event, start, end)
        if hit is not None and (event.id not in found or hit[0] < found[event.id]):
            found[event.id] = hit[0]
    ordered = sorted(found.items(), key=lambda item: (item[1], item[0]))
    return ordered[:limit]
