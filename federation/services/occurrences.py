"""The occurrence index: every occurrence of every action, by time, so that a window query
costs what the window holds, however old or long the series in it.

dateutil expands a rule from its first start, and a listing used to expand every series the
SQL filter could not rule out: an open-ended nightly series started years ago cost years of
steps in every window, and the filter (`series_ends_at IS NULL OR series_ends_at > :from`)
kept every open-ended series and could not use the start-time index. Instead, each action's
occurrences are written, at write and ingest time, as rows of `event_occurrences`:

- Within a span around now: a series is indexed from PAST before the time it is written (or
  its first start, if later) to HORIZON after it, and `extend_index` (run by the sync worker,
  or `flask federation index-occurrences`) moves the horizon on. `Event.indexed_from` and
  `indexed_until` say what each action's rows cover; an occurrence outside (older history,
  the far future) is found by expanding the rule from the window (Series.rule_near), so a
  query there is still right, only slower. A single action is indexed whole, wherever it is.
  `indexed_until` NULL means not indexed at all (a database upgraded by plain `alembic
  upgrade`, until `flask db upgrade` or the worker indexes it).
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

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from federation.bulk import insert_rows
from federation.db import writing_session
from federation.models import Event, EventRow, Occurrence, utcnow
from federation.recurrence import LATEST_START, RecurrenceError, Series, parse_series

# The span of a series that is indexed, around the time it is written: windows from a month
# back (what feeds show of the past) to a year ahead never expand a rule. extend_index moves
# the horizon on once it is closer than EXTEND_WITHIN.
PAST = dt.timedelta(days=31)
HORIZON = dt.timedelta(days=400)
EXTEND_WITHIN = dt.timedelta(days=370)
SEGMENT = dt.timedelta(days=1)
# The rows one action may need in its span: a single occurrence of 55 years, or a series of
# occurrences lasting weeks each. More is refused when written (see `index_size_error`); an
# action stored by an older release that needs more is indexed this far, expanded beyond.
MAX_INDEX_ROWS = 20_000
# `indexed_until` of an action whose every occurrence (from `indexed_from`) is indexed.
INDEXED_FOREVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
_OCCURRENCES = cast(Table, Occurrence.__table__)
_EVENTS = cast(Table, Event.__table__)
_NO_ID = uuid.UUID(int=0)
# Actions extended per transaction by keep_index.
_BATCH = 200
# Rows deleted or updated per statement (SQLite caps a statement's bound parameters).
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


def _day(moment: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(moment.astimezone(dt.UTC).date(), dt.time(), dt.UTC)


def horizon_at(now: dt.datetime) -> dt.datetime:
    """How far ahead an action written at `now` is indexed (a UTC midnight, so that actions
    written on one day share it)."""
    return min(_day(now + HORIZON), LATEST_START)


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
    """The rows an action needs in the index, and the span they cover."""

    rows: list[dict[str, Any]]
    indexed_from: dt.datetime | None  # every occurrence ending after it; None: all
    indexed_until: dt.datetime
    complete: bool  # False: cut at MAX_INDEX_ROWS before the span's end


def _occurrences(
    event: Indexable, *, now: dt.datetime, since: dt.datetime | None
) -> tuple[Iterable[tuple[dt.datetime, dt.datetime]], dt.datetime | None, dt.datetime]:
    """The action's occurrences in its span (from `since`, when extending it), the span's
    start (None: the first occurrence; else every occurrence ending after it) and its end."""
    until = horizon_at(now)
    series = series_of(event)
    if series is None:
        return ([(event.starts_at, event.ends_at)] if since is None else []), None, INDEXED_FOREVER
    last_start = event.series_ends_at - series.duration if event.series_ends_at else None
    reach = INDEXED_FOREVER if last_start is not None and last_start < until else until
    if since is not None:
        return series.occurrences(until, since=since, excluding=event.exdates), since, reach
    start = _day(now - PAST) if event.starts_at < _day(now - PAST) else None
    # From the span's start, every occurrence *ending* after it (an older one still running).
    first = start - series.duration if start is not None else None
    return series.occurrences(until, since=first, excluding=event.exdates), start, reach


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
    """The rows of the action's occurrences in its span (from `since` when extending it), at
    most `limit` of them."""
    occurrences, start, reach = _occurrences(event, now=now, since=since)
    rows: list[dict[str, Any]] = []
    for item in _segments(event.id, occurrences, limit):
        if isinstance(item, dt.datetime):
            return IndexEntries(rows, indexed_from=start, indexed_until=item, complete=False)
        rows.append(item)
    return IndexEntries(rows, indexed_from=start, indexed_until=reach, complete=True)


def index_size_error(
    event: Indexable, *, now: dt.datetime, series: Series | None = None
) -> str | None:
    """Why the action cannot be indexed whole over its span, or None: a bound on what one
    write may cost every later query. `series`: the action's, if the caller has it."""
    rows_each = -(-(event.ends_at - event.starts_at) // SEGMENT)
    series = series or series_of(event)
    if series is not None:
        # Most series are far from the bound: count them only when a day-by-day bound says
        # they might reach it.
        first = max(event.starts_at, _day(now - PAST)) - series.duration
        days = (horizon_at(now) - first) // SEGMENT + 1
        if days * series.per_day * rows_each > MAX_INDEX_ROWS:
            occurrences, _, _ = _occurrences(event, now=now, since=None)
            rows = 0
            for start, end in occurrences:
                rows += -(-(end - start) // SEGMENT)
                if rows > MAX_INDEX_ROWS:
                    break
            rows_each = rows
    if rows_each <= MAX_INDEX_ROWS:
        return None
    return (
        f"Needs more than {MAX_INDEX_ROWS} day-long entries in the occurrence index (one per "
        f"day of each occurrence, until {horizon_at(now):%Y-%m-%d}): make the occurrences "
        "fewer or shorter."
    )


def _record(
    session: Session, spans: dict[tuple[dt.datetime | None, dt.datetime], list[Any]]
) -> None:
    """Store the span each action is indexed over (Core statements, which leave versions
    alone), and show it on the ORM objects without making them dirty."""
    for (start, until), chosen in spans.items():
        for offset in range(0, len(chosen), _CHUNK):
            ids = [event.id for event in chosen[offset : offset + _CHUNK]]
            session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.id.in_(ids))
                .values(indexed_from=start, indexed_until=until)
            )
        for event in chosen:
            if isinstance(event, Event):
                set_committed_value(event, "indexed_from", start)
                set_committed_value(event, "indexed_until", until)


def index_new(events: Sequence[Event | EventRow], *, now: dt.datetime) -> list[dict[str, Any]]:
    """The index rows of actions about to be written (inserted, or updated with a new
    schedule), setting on each the span the rows cover, so the write itself records it."""
    entries: list[dict[str, Any]] = []
    for event in events:
        indexed = index_entries(event, now=now)
        event.indexed_from, event.indexed_until = indexed.indexed_from, indexed.indexed_until
        entries += indexed.rows
    return entries


def replace_rows(
    session: Session, event_ids: Sequence[uuid.UUID], rows: Sequence[dict[str, Any]]
) -> None:
    """Put `rows` in place of the index rows of `event_ids` (which must exist by now)."""
    for offset in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[offset : offset + _CHUNK]
        session.execute(delete(_OCCURRENCES).where(_OCCURRENCES.c.event_id.in_(chunk)))
    insert_rows(session, _OCCURRENCES, rows)


def extend_index(session: Session, *, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Index up to today's horizon the actions whose index ends too soon (or that were never
    indexed); returns how many were extended. At most `batch` actions a call, so the caller
    commits between calls; the rows are locked (PostgreSQL), so a concurrent edit that
    re-indexes one waits, or is waited for, and neither indexes a rule the other replaced."""
    now = now or utcnow()
    soon = horizon_at(now) - (HORIZON - EXTEND_WITHIN)
    due = select(Event).where(or_(Event.indexed_until.is_(None), Event.indexed_until < soon))
    due = due.order_by(Event.indexed_until.is_not(None), Event.indexed_until).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(of=Event, skip_locked=True)
    events = list(session.scalars(due))
    rows: list[dict[str, Any]] = []
    spans: dict[tuple[dt.datetime | None, dt.datetime], list[Any]] = {}
    for event in events:
        if event.indexed_until is None:
            session.execute(delete(_OCCURRENCES).where(_OCCURRENCES.c.event_id == event.id))
            entries = index_entries(event, now=now)
            start = entries.indexed_from
        else:
            entries = index_entries(event, now=now, since=event.indexed_until)
            start = event.indexed_from
        rows += entries.rows
        spans.setdefault((start, entries.indexed_until), []).append(event)
    insert_rows(session, _OCCURRENCES, rows)
    _record(session, spans)
    return len(events)


def keep_index(factory: sessionmaker[Session], *, now: dt.datetime | None = None) -> int:
    """Run extend_index until nothing is due, a transaction per batch; how many actions it
    extended. The sync worker runs it every round; `db upgrade` after a migration."""
    total = 0
    while True:
        with writing_session(factory) as session:
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
    """Actions that may have an occurrence overlapping [start, end) that their rows do not
    cover (indexed too short a span, or not at all), which are expanded instead: none, for a
    window within a year of now."""
    return and_(
        or_(
            Event.indexed_until.is_(None),
            Event.indexed_until < end,
            Event.indexed_from > start,
        ),
        Event.starts_at < end,
        or_(Event.series_ends_at.is_(None), Event.series_ends_at > start),
    )


def in_window(start: dt.datetime, end: dt.datetime) -> CTE:
    """The ids (`event_id`) of actions with an occurrence overlapping [start, end), found in
    the index, or among the few whose rows do not cover it (which the caller checks with
    `covered`). Materialized: computed once from the index's range, then joined, rather than
    probed once per action a filter keeps (what planners choose for a coalition's actions)."""
    hits = select(Occurrence.event_id).where(overlapping(start, end))
    rest = select(Event.id.label("event_id")).where(not_indexed_within(start, end))
    return union(hits, rest).cte("in_window").prefix_with("MATERIALIZED")


def running_at(moment: dt.datetime) -> CTE:
    """The ids (`event_id`) of actions that may be running at `moment` or after it while
    having begun before: single actions under way then (from the index), series not over by
    then (few, by the partial index ix_events_series_live), and actions not indexed yet. The
    caller keeps those begun before `moment`; all of them are still running at it."""
    under_way = select(Occurrence.event_id).where(
        Occurrence.segment_start > moment - SEGMENT,
        Occurrence.segment_start <= moment,
        Occurrence.ends_at > moment,
    )
    still_going = or_(Event.series_ends_at.is_(None), Event.series_ends_at > moment)
    series = select(Event.id).where(Event.rrule.is_not(None), still_going)
    unindexed = select(Event.id).where(Event.indexed_until.is_(None), still_going)
    return union(under_way, series, unindexed).cte("running_at").prefix_with("MATERIALIZED")


def covered(event: Event, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether the index holds every occurrence of `event` that overlaps [start, end)."""
    if event.indexed_until is None or event.indexed_until < end:
        return False
    return event.indexed_from is None or event.indexed_from <= start


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
    `query` (a select of Event ids, with filters) keeps, soonest first, at most `limit`."""
    hits = (
        select(Occurrence.event_id, func.min(Occurrence.starts_at).label("first"))
        .where(overlapping(start, end))
        .group_by(Occurrence.event_id)
        .cte("hits")
        .prefix_with("MATERIALIZED")  # see in_window
    )
    kept = query.subquery()
    indexed = (
        select(hits.c.event_id, hits.c.first)
        .join(kept, kept.c.id == hits.c.event_id)
        .order_by(hits.c.first, hits.c.event_id)
        .limit(limit)
    )
    found = {event_id: moment for event_id, moment in session.execute(indexed).all()}
    rest = query.where(not_indexed_within(start, end))
    for event in session.scalars(select(Event).where(Event.id.in_(rest))):
        hit = first_overlapping(event, start, end)
        if hit is not None and (event.id not in found or hit[0] < found[event.id]):
            found[event.id] = hit[0]
    ordered = sorted(found.items(), key=lambda item: (item[1], item[0]))
    return ordered[:limit]
