"""Feeds: which events a feed holds, its bytes, validators, and a cache keyed by revision."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import threading
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.ical import CalendarInfo, render_calendar
from federation.models import Campaign, Coalition, Event, InstanceState, Tombstone
from federation.services.errors import Gone, NotFound
from federation.services.events import EventFilters, filter_events, not_over


@dataclass(frozen=True)
class FeedSpec:
    """A feed: its cache key, its events, its names and where it lives."""

    key: str
    filters: EventFilters
    name: str
    description: str
    path: str
    # Feeds show recent and future events; a single event's .ics shows it whatever its date.
    windowed: bool = True


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: dt.datetime
    revision: int
    events: int
    truncated: bool


def all_feed(filters: EventFilters, instance_name: str) -> FeedSpec:
    # Encoded: the path ends up in the feed's SOURCE, a URI.
    pairs = [
        (name, str(value)) for name, value in sorted(vars(filters).items()) if value is not None
    ]
    query = "?" + urlencode(pairs) if pairs else ""
    return FeedSpec(
        key="all" + query,
        filters=filters,
        name=f"{instance_name}: all actions",
        description=f"Every action published on or relayed to {instance_name}.",
        path="/feeds/all.ics" + query,
    )


def city_feed(session: Session, city_slug: str, instance_name: str) -> FeedSpec:
    city = session.scalar(select(Coalition.city).where(Coalition.city_slug == city_slug).limit(1))
    if city is None:
        raise NotFound("No coalition in this city.")
    return FeedSpec(
        key=f"city:{city_slug}",
        filters=EventFilters(city=city_slug),
        name=f"Actions in {city}",
        description=f"Actions of every coalition in {city}, from {instance_name}.",
        path=f"/feeds/cities/{city_slug}.ics",
    )


def coalition_feed(session: Session, slug: str) -> FeedSpec:
    coalition = session.scalar(select(Coalition).where(Coalition.slug == slug))
    if coalition is None:
        buried = select(Tombstone.id).where(Tombstone.type == "Coalition", Tombstone.slug == slug)
        if session.scalar(buried) is not None:
            raise Gone("This coalition was deleted.")
        raise NotFound("No such coalition.")
    return FeedSpec(
        key=f"coalition:{slug}",
        filters=EventFilters(coalition=slug),
        name=coalition.name,
        description=f"Actions of {coalition.name} ({coalition.city}).",
        path=f"/feeds/coalitions/{slug}.ics",
    )


def campaign_feed(session: Session, campaign_id: uuid.UUID) -> FeedSpec:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        if session.get(Tombstone, campaign_id) is not None:
            raise Gone("This campaign was deleted.")
        raise NotFound("No such campaign.")
    return FeedSpec(
        key=f"campaign:{campaign_id}",
        filters=EventFilters(campaign=campaign_id),
        name=campaign.title,
        description=f"Parallel actions of {campaign.title}, in every city.",
        path=f"/feeds/campaigns/{campaign_id}.ics",
    )


def tag_feed(tag: str, instance_name: str) -> FeedSpec:
    tag = tag.strip().lower()
    return FeedSpec(
        key=f"tag:{tag}",
        filters=EventFilters(tag=tag),
        name=f"Actions tagged {tag}",
        description=f"Actions tagged {tag} on {instance_name}.",
        path=f"/feeds/tags/{tag}.ics",
    )


def event_feed(session: Session, event_id: uuid.UUID) -> FeedSpec:
    event = session.get(Event, event_id)
    if event is None:
        if session.get(Tombstone, event_id) is not None:
            raise Gone("This event was deleted.")
        raise NotFound("No such event.")
    return FeedSpec(
        key=f"event:{event_id}",
        filters=EventFilters(event_id=event_id),
        name=event.title,
        description=event.title,
        path=f"/events/{event_id}.ics",
        windowed=False,
    )


def current_revision(session: Session) -> tuple[int, dt.datetime]:
    state = session.get(InstanceState, 1)
    if state is None:  # a database migrated but never written to
        return 0, dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return state.revision, state.changed_at


def build_feed(
    session: Session,
    spec: FeedSpec,
    *,
    base_url: str,
    since: dt.datetime,
    cap: int,
    year: int,
) -> RenderedFeed:
    """Assemble the feed from stored VEVENT blocks (no per-event rendering)."""
    revision, changed_at = current_revision(session)
    # Plain columns, not entities: no per-row ORM work, no UUID parsing, just the bytes.
    columns = Event.__table__.c
    selected = select(columns.timezone, columns.ical_block)
    if spec.windowed:
        parts = not_over(replace(spec.filters, ends_after=since), selected)
    else:
        parts = [filter_events(spec.filters, selected)]
    rows: list[Any] = []
    for part in parts:  # each part's rows come after the one's before, in (start, id) order
        if len(rows) <= cap:
            ordered = part.order_by(Event.starts_at, Event.id).limit(cap + 1 - len(rows))
            rows += session.execute(ordered).all()
    truncated = len(rows) > cap
    rows = rows[:cap]
    description = spec.description
    if truncated:
        description += (
            f" Showing only the first {cap} actions from {since:%Y-%m-%d}; "
            "subscribe to a city, coalition, campaign or kind to see the rest."
        )
    info = CalendarInfo(name=spec.name, description=description, source_url=base_url + spec.path)
    body = render_calendar(info, {tz for tz, _ in rows}, [block for _, block in rows], year=year)
    etag = hashlib.blake2b(body, digest_size=16).hexdigest()
    return RenderedFeed(body, etag, changed_at, revision, len(rows), truncated)


class FeedCache:
    """Rendered feeds by key, valid while the instance revision has not moved.

    Per process; the revision lives in the database, so several workers stay coherent. Bounded
    by total size, least recently used first out.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[tuple[str, ...], RenderedFeed] = (
            collections.OrderedDict()
        )
        self._size = 0
        self._lock = threading.Lock()

    def get(
        self, key: tuple[str, ...], revision: int, changed_at: dt.datetime
    ) -> RenderedFeed | None:
        with self._lock:
            feed = self._entries.get(key)
            # The time too: a restored backup rolls the revision back, and the same number
            # then comes round again for other content (never at the same instant).
            if feed is None or (feed.revision, feed.last_modified) != (revision, changed_at):
                return None
            self._entries.move_to_end(key)
            return feed

    def put(self, key: tuple[str, ...], feed: RenderedFeed) -> None:
        if len(feed.body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old.body)
            self._entries[key] = feed
            self._size += len(feed.body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted.body)


def get_feed(
    session: Session,
    cache: FeedCache | None,
    spec: FeedSpec,
    *,
    base_url: str,
    past_days: int,
    cap: int,
    now: dt.datetime,
) -> RenderedFeed:
    """The feed as of now: from the cache when nothing was written since it was built."""
    # Day granularity: the window moves once a day, so bytes and ETag stay stable in between.
    since = dt.datetime.combine(now.date(), dt.time(), dt.UTC) - dt.timedelta(days=past_days)
    key = (spec.key, since.date().isoformat(), str(cap))
    if cache is not None:
        revision, changed_at = current_revision(session)
        cached = cache.get(key, revision, changed_at)
        if cached is not None:
            return cached
    feed = build_feed(session, spec, base_url=base_url, since=since, cap=cap, year=now.year)
    if cache is not None:
        cache.put(key, feed)
    return feed
