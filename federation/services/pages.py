"""What the members' pages show: upcoming occurrences by local day, a campaign city by city."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.models import Campaign, Coalition, Endorsement, Event
from federation.recurrence import parse_series
from federation.services.events import EventFilters, filter_events

# Strongest commitment first: who strikes, who mobilizes, who endorses, who sends solidarity.
LEVEL_ORDER = ("strike", "mobilize", "endorse", "solidarity")
PAGE_LIMIT = 200


@dataclass(frozen=True)
class Occurrence:
    """One showing of an event: its next (or only) occurrence, in the event's own zone."""

    event: Event
    starts_at: dt.datetime
    ends_at: dt.datetime

    @property
    def local_day(self) -> dt.date:
        return self.starts_at.date()


def first_occurrence(event: Event) -> Occurrence:
    zone = ZoneInfo(event.timezone)
    return Occurrence(event, event.starts_at.astimezone(zone), event.ends_at.astimezone(zone))


def next_occurrence(event: Event, now: dt.datetime) -> Occurrence | None:
    """The first occurrence not yet over at `now`, in the event's zone; None when all are."""
    zone = ZoneInfo(event.timezone)
    duration = event.ends_at - event.starts_at
    if not event.rrule:
        if event.ends_at <= now:
            return None
        start = event.starts_at
    else:
        series = parse_series(
            event.rrule,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            timezone=event.timezone,
            all_day=event.all_day,
        )
        found = series.first_start_between(
            now - duration - dt.timedelta(seconds=1),
            dt.datetime.max.replace(tzinfo=dt.UTC),
            event.exdates,
        )
        if found is None:
            return None
        start = found
    return Occurrence(event, start.astimezone(zone), (start + duration).astimezone(zone))


def upcoming(
    session: Session, filters: EventFilters, *, now: dt.datetime, limit: int = PAGE_LIMIT
) -> list[Occurrence]:
    """The next occurrence of each event not yet over, soonest first."""
    query = filter_events(EventFilters(**{**vars(filters), "ends_after": now}))
    events = session.scalars(query.order_by(Event.starts_at, Event.id).limit(limit)).unique()
    found = [occ for event in events if (occ := next_occurrence(event, now)) is not None]
    return sorted(found, key=lambda occ: (occ.starts_at, occ.event.id))


def by_day(occurrences: list[Occurrence]) -> list[tuple[dt.date, list[Occurrence]]]:
    """Occurrences grouped by their local date, in date order."""
    ordered = sorted(occurrences, key=lambda occ: (occ.local_day, occ.starts_at))
    return [(day, list(group)) for day, group in itertools.groupby(ordered, lambda o: o.local_day)]


@dataclass(frozen=True)
class CampaignPage:
    campaign: Campaign
    # (city name, occurrences) for every city with a parallel action, by city name.
    cities: list[tuple[str, list[Occurrence]]]
    # (level, endorsements), strongest commitment first.
    endorsements: list[tuple[str, list[Endorsement]]]


def campaign_page(session: Session, campaign: Campaign, *, now: dt.datetime) -> CampaignPage:
    query = filter_events(EventFilters(campaign=campaign.id)).order_by(Event.starts_at, Event.id)
    cities: dict[str, list[Occurrence]] = {}
    for event in session.scalars(query.limit(PAGE_LIMIT)).unique():
        # A day of action is shown whole, past or not: its next occurrence, else its first.
        occurrence = next_occurrence(event, now) or first_occurrence(event)
        cities.setdefault(event.coalition.city, []).append(occurrence)
    levels = [
        (level, [e for e in campaign.endorsements if e.level == level]) for level in LEVEL_ORDER
    ]
    return CampaignPage(
        campaign=campaign,
        cities=sorted(cities.items()),
        endorsements=[(level, items) for level, items in levels if items],
    )


def filter_choices(session: Session) -> dict[str, list[tuple[str, str]]]:
    """(value, label) pairs for the filter form's selects."""
    coalitions = session.execute(
        select(Coalition.slug, Coalition.name, Coalition.city_slug, Coalition.city).order_by(
            Coalition.name
        )
    ).all()
    campaigns = session.execute(
        select(Campaign.id, Campaign.title).order_by(Campaign.starts_on.desc(), Campaign.id)
    ).all()
    return {
        "city": sorted({(c.city_slug, c.city) for c in coalitions}, key=lambda c: c[1]),
        "coalition": [(c.slug, c.name) for c in coalitions],
        "campaign": [(str(c.id), c.title) for c in campaigns],
    }
