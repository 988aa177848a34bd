"""Publishing, editing, cancelling, deleting and finding actions (events)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from federation.models import Campaign, Coalition, Event, EventTag, Tombstone, utcnow
from federation.recurrence import RecurrenceError, Series, parse_series
from federation.services import occurrences
from federation.services.auth import Actor
from federation.services.common import apply_changes, bury, like_pattern, require_local
from federation.services.errors import Gone, InvalidInput, NotFound
from federation.services.pagination import Page, datetime_key, paginate, paginate_parts, uuid_key

AnySelect = Select[*tuple[Any, ...]]

LOCATION_FIELDS = {
    "name": "location_name",
    "address": "location_address",
    "latitude": "latitude",
    "longitude": "longitude",
}
_EVENT_ATTRIBUTES = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "all_day",
    "rrule",
    "exdates",
    "online_url",
    "kind",
    "tags",
    "status",
    "language",
    "campaign_id",
)


def _flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """API field names to model attributes; `location` replaces all four columns at once."""
    values = {name: data[name] for name in _EVENT_ATTRIBUTES if name in data}
    if "location" in data:
        location = data["location"] or {}
        for field, attribute in LOCATION_FIELDS.items():
            values[attribute] = location.get(field)
    if "tags" in values:
        # Tags are matched case-insensitively; keep the first spelling of each.
        values["tags"] = list(dict.fromkeys(tag.strip().lower() for tag in values["tags"]))
    if "exdates" in values:
        # In the stored form (UTC, sorted, once each), so resending them is not a change.
        values["exdates"] = sorted({moment.astimezone(dt.UTC) for moment in values["exdates"]})
    if values.get("rrule") is not None:
        values["rrule"] = values["rrule"].strip().upper()
    return values


def _check(
    session: Session,
    state: Mapping[str, Any],
    *,
    check_campaign: bool = True,
    rescheduled: bool = True,
) -> dict[str, Any]:
    """Validate the event as it would be after the write; return derived columns.

    Raises InvalidInput with every broken rule at once, keyed by API field name.
    `check_campaign`: whether the campaign must be held here (another origin's action may
    join a day of action this instance has not received). `rescheduled`: whether its times
    or rule change (only then is what it costs the occurrence index checked again).
    """
    errors: dict[str, list[str]] = {}
    starts_at: dt.datetime = state["starts_at"]
    ends_at: dt.datetime = state["ends_at"]
    zone = ZoneInfo(state["timezone"])
    if ends_at <= starts_at:
        errors.setdefault("ends_at", []).append("Must be after starts_at.")
    if state["all_day"]:
        for name in ("starts_at", "ends_at"):
            if state[name].astimezone(zone).time() != dt.time(0, 0):
                errors.setdefault(name, []).append(
                    f"An all-day event starts and ends at local midnight in {zone.key}."
                )
    series: Series | None = None
    if state["rrule"] and not errors:
        try:
            series = parse_series(
                state["rrule"],
                starts_at=starts_at,
                ends_at=ends_at,
                timezone=zone.key,
                all_day=state["all_day"],
            )
        except RecurrenceError as exc:
            errors.setdefault("rrule", []).append(str(exc))
    exdates: list[dt.datetime] = state["exdates"]
    if exdates and not state["rrule"]:
        errors.setdefault("exdates", []).append("Only a recurring event (with rrule) has exdates.")
    elif series is not None:
        strays = series.strays(exdates)
        if strays:
            errors.setdefault("exdates", []).append(
                "Not occurrences of the rule: " + ", ".join(x.isoformat() for x in strays)
            )
    campaign_id = state["campaign_id"]
    if check_campaign and campaign_id is not None and session.get(Campaign, campaign_id) is None:
        errors.setdefault("campaign_id", []).append("No such campaign.")
    series_ends_at: dt.datetime | None = ends_at
    if series is not None and not errors:
        try:
            series_ends_at = series.last_end(excluding=exdates)
        except RecurrenceError as exc:
            errors.setdefault("rrule", []).append(str(exc))
    if rescheduled and not errors:
        schedule = occurrences.Schedule(
            starts_at=starts_at,
            ends_at=ends_at,
            timezone=zone.key,
            all_day=state["all_day"],
            rrule=state["rrule"],
            exdates=exdates,
            series_ends_at=series_ends_at,
        )
        too_large = occurrences.index_size_error(schedule, now=utcnow(), series=series)
        if too_large:
            errors.setdefault("rrule" if state["rrule"] else "ends_at", []).append(too_large)
    if errors:
        raise InvalidInput("The event is not valid.", errors)
    return {"series_ends_at": series_ends_at}


# The fields an action's occurrences depend on.
_SCHEDULE_FIELDS = ("starts_at", "ends_at", "timezone", "all_day", "rrule", "exdates")


def _state(event: Event | None, values: Mapping[str, Any]) -> dict[str, Any]:
    names = ("starts_at", "ends_at", "timezone", "all_day", "rrule", "exdates", "campaign_id")
    return {name: values[name] if name in values else getattr(event, name) for name in names}


def event_values(
    session: Session, coalition: Coalition, data: Mapping[str, Any], *, check_campaign: bool = True
) -> dict[str, Any]:
    """A whole event's model attributes from its API fields, checked; defaults filled in."""
    values = {
        "description": "",
        "all_day": False,
        "rrule": None,
        "exdates": [],
        "tags": [],
        "status": "confirmed",
        "campaign_id": None,
        "timezone": coalition.timezone,
        **_flatten(data),
    }
    values.update(_check(session, _state(None, values), check_campaign=check_campaign))
    return values


def publish_event(
    session: Session, actor: Actor, coalition: Coalition, data: Mapping[str, Any], *, origin: str
) -> Event:
    """Create an action of `coalition`; its zone defaults to the coalition's."""
    actor.require_coalition(coalition.id)
    require_local(session, coalition)
    values = event_values(session, coalition, data)
    event = Event(coalition=coalition, origin=origin, **values)
    session.add(event)
    session.flush()
    return event


def get_event(session: Session, event_id: uuid.UUID) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        if session.get(Tombstone, event_id) is not None:
            raise Gone("This event was deleted.")
        raise NotFound("No such event.")
    return event


def update_event(session: Session, actor: Actor, event: Event, changes: Mapping[str, Any]) -> Event:
    """Edit an action; cancelling is `status: cancelled`, which keeps it visible as such."""
    actor.require_coalition(event.coalition_id)
    require_local(session, event)
    values = _flatten(changes)
    rescheduled = any(
        values[name] != getattr(event, name) for name in _SCHEDULE_FIELDS if name in values
    )
    values.update(_check(session, _state(event, values), rescheduled=rescheduled))
    apply_changes(event, values)
    session.flush()
    return event


def delete_event(session: Session, actor: Actor, event: Event) -> Tombstone:
    actor.require_coalition(event.coalition_id)
    require_local(session, event)
    tombstone = bury(session, event, "Event")
    session.flush()
    return tombstone


@dataclass(frozen=True)
class EventFilters:
    city: str | None = None
    coalition: str | None = None
    campaign: uuid.UUID | None = None
    kind: str | None = None
    tag: str | None = None
    status: str | None = None
    starts_before: dt.datetime | None = None  # `to`
    ends_after: dt.datetime | None = None  # `from`
    q: str | None = None
    event_id: uuid.UUID | None = None


def filter_events(filters: EventFilters, query: AnySelect | None = None) -> AnySelect:
    """The SQL part of a listing: exact for single events, a superset for recurring ones.

    `query` selects what to read (whole events by default, or just some columns).
    """
    query = select(Event) if query is None else query
    if filters.city or filters.coalition:
        query = query.join(Event.coalition)
    if filters.event_id:
        query = query.where(Event.id == filters.event_id)
    if filters.city:
        query = query.where(Coalition.city_slug == filters.city)
    if filters.coalition:
        query = query.where(Coalition.slug == filters.coalition)
    if filters.campaign:
        query = query.where(Event.campaign_id == filters.campaign)
    if filters.kind:
        query = query.where(Event.kind == filters.kind)
    if filters.status:
        query = query.where(Event.status == filters.status)
    if filters.tag:
        tagged = select(EventTag.event_id).where(EventTag.tag == filters.tag.strip().lower())
        query = query.where(Event.id.in_(tagged))
    if filters.q:
        pattern = like_pattern(filters.q)
        query = query.where(
            or_(
                Event.title.ilike(pattern, escape="\\"),
                Event.description.ilike(pattern, escape="\\"),
            )
        )
    if filters.ends_after and filters.starts_before:
        # A window: the occurrence index, plus the few actions it does not cover that far.
        window = occurrences.in_window(filters.ends_after, filters.starts_before)
        query = query.join(window, window.c.event_id == Event.id)
    elif filters.starts_before:
        query = query.where(Event.starts_at < filters.starts_before)
    elif filters.ends_after:
        # series_ends_at is the end of the last occurrence not excluded; NULL never ends.
        query = query.where(
            or_(Event.series_ends_at.is_(None), Event.series_ends_at > filters.ends_after)
        )
    return query


def occurs_within(
    event: Event, ends_after: dt.datetime | None, starts_before: dt.datetime | None
) -> bool:
    """Whether an occurrence of `event` overlaps [ends_after, starts_before), for an event
    that filter_events selected: exact unless the index does not cover the window."""
    if starts_before is None:
        return True
    if ends_after is None:
        # SQL keeps what starts before `to`; a series whose first nights are excluded may not.
        start = event.starts_at
        return (
            not event.rrule
            or occurrences.first_overlapping(event, start, starts_before) is not None
        )
    if occurrences.covered(event, ends_after, starts_before):
        return True
    return occurrences.first_overlapping(event, ends_after, starts_before) is not None


def not_over(filters: EventFilters, query: AnySelect | None = None) -> list[AnySelect]:
    """The actions with an occurrence ending after `filters.ends_after` (`from` alone), as
    two exact queries whose rows follow each other in (start, id) order: those begun before it
    and still running then (found in the occurrence index, or among the series still going:
    few), and those beginning after it (a range of the start-time index, read in order). One
    filter `series_ends_at > :from` would keep every past action's row in the way of that
    order: a listing would read the instance's whole history to fill its first page."""
    since = filters.ends_after
    assert since is not None
    base = replace(filters, ends_after=None)
    running = occurrences.running_at(since)
    earlier = filter_events(base, query).join(running, running.c.event_id == Event.id)
    later = filter_events(base, query).where(Event.starts_at >= since)
    return [earlier.where(Event.starts_at < since), later]


def list_events(
    session: Session, filters: EventFilters, *, cursor: str | None, limit: int
) -> Page[Event]:
    """Events in (start, id) order, recurring ones included when an occurrence overlaps."""
    if filters.ends_after and filters.starts_before and filters.ends_after >= filters.starts_before:
        raise InvalidInput("Empty window.", {"to": ["Must be after 'from'."]}, location="query")
    keys = [datetime_key(Event.starts_at), uuid_key(Event.id)]
    if filters.ends_after and not filters.starts_before:
        return paginate_parts(session, not_over(filters), keys, cursor=cursor, limit=limit)
    return paginate(
        session,
        filter_events(filters),
        keys,
        cursor=cursor,
        limit=limit,
        accept=lambda event: occurs_within(event, filters.ends_after, filters.starts_before),
    )
