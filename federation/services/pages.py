"""What the members' pages show: upcoming occurrences by local day, a campaign city by city."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.models import Campaign, Coalition, Endorsement, Event
from federation.recurrence import LATEST_START
from federation.services import occurrences
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


def _shown(event: Event, start: dt.datetime) -> Occurrence:
    zone = ZoneInfo(event.timezone)
    end = start + (event.ends_at - event.starts_at)
    return Occurrence(event, start.astimezone(zone), end.astimezone(zone))


def next_occurrence(event: Event, now: dt.datetime) -> Occurrence | None:
    """The first occurrence not yet over at `now`, in the event's zone; None when all are."""
    found = occurrences.first_overlapping(event, now, _END_OF_TIME)
    return _shown(event, found[0]) if found is not None else None


@dataclass(frozen=True)
class Upcoming:
    """The next occurrences of the actions not yet over, soonest first; when there were more
    than a page holds, the first one left out (where a next page begins)."""

    occurrences: list[Occurrence]
    more: Occurrence | None


# Windows tried in turn (then everything): a page is filled from the index by reading about
# as many occurrences as it shows, whether an instance holds ten actions or a million.
_SPANS = (
    dt.timedelta(days=7),
    dt.timedelta(days=31),
    dt.timedelta(days=92),
    dt.timedelta(days=366),
)
_END_OF_TIME = LATEST_START + dt.timedelta(days=1)


def upcoming(
    session: Session, filters: EventFilters, *, now: dt.datetime, limit: int | None = None
) -> Upcoming:
    """The next occurrence of each action not yet over at `now`, soonest first, at most
    `limit` of them (PAGE_LIMIT by default)."""
    limit = limit or PAGE_LIMIT
    query = filter_events(replace(filters, ends_after=None, starts_before=None), select(Event.id))
    found: list[tuple[uuid.UUID, dt.datetime]] = []
    for end in [now + span for span in _SPANS] + [_END_OF_TIME]:
        found = occurrences.next_starts(
            session, query, start=now, end=min(end, _END_OF_TIME), limit=limit + 1
        )
        if len(found) > limit:
            break
    ids = [event_id for event_id, _ in found]
    events = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids))).unique()}
    shown = [_shown(events[event_id], start) for event_id, start in found]
    return Upcoming(shown[:limit], shown[limit] if len(shown) > limit else None)


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
