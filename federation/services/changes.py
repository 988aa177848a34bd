"""What every write does, whatever its entry point (API, CLI, demo, the sync worker):
re-render the VEVENT of each new or changed event, re-index the occurrences of each new or
rescheduled one, and bump the instance revision that feed caches compare against."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session, sessionmaker

from federation.ical import render_event
from federation.models import (
    Campaign,
    Coalition,
    Endorsement,
    Event,
    InstanceState,
    Tombstone,
    utcnow,
)
from federation.services import occurrences

# Types whose changes can alter a feed (its events, names or existence).
_PUBLISHED = (Event, Coalition, Campaign, Endorsement, Tombstone)
# What an action's occurrences depend on.
_SCHEDULE = ("starts_at", "ends_at", "timezone", "all_day", "rrule", "exdate_values")
_TO_INDEX_KEY = "federation.changes.to_index"


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    touched = False
    to_index: list[Event] = []
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Event):
            _prepare_defaults(obj)
            obj.ical_block = render_event(obj)
            if obj in session.new or _rescheduled(obj):
                to_index.append(obj)
        touched = touched or isinstance(obj, _PUBLISHED)
    touched = touched or any(isinstance(obj, _PUBLISHED) for obj in session.deleted)
    if touched:
        note_feed_change(session)
    # The span each action's index covers goes into its own INSERT or UPDATE; the rows, which
    # refer to the actions, after the flush has written them.
    rows = occurrences.index_new(to_index, now=utcnow())
    session.info[_TO_INDEX_KEY] = ([obj.id for obj in to_index], rows)


def _rescheduled(obj: Event) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in _SCHEDULE)


def _after_flush(session: Session, _context: Any) -> None:
    event_ids, rows = session.info.pop(_TO_INDEX_KEY, ([], []))
    if event_ids:
        occurrences.replace_rows(session, event_ids, rows)


def note_feed_change(session: Session) -> None:
    """Bump the revision that feed caches compare against (writes that bypass the flush
    hooks, such as bulk statements, call it themselves)."""
    session.execute(
        update(InstanceState)
        .where(InstanceState.id == 1)
        .values(revision=InstanceState.revision + 1, changed_at=utcnow())
    )


def _prepare_defaults(obj: Event) -> None:
    # Column defaults apply at INSERT, after this hook; the block needs them now.
    now = utcnow()
    if obj.id is None:
        obj.id = uuid.uuid4()
    if obj.version is None:
        obj.version = 1
    if obj.created_at is None:
        obj.created_at = now
    if obj.updated_at is None:
        obj.updated_at = obj.created_at


def install(factory: sessionmaker[Session]) -> None:
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "after_flush", _after_flush)
