"""Typed models: the coalition's data and the invariants that hold whatever the entry point."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, declared_attr, mapped_column, relationship

from federation.db import Base, UTCDateTime
from schemas.vocabulary import ENDORSEMENT_LEVELS, EVENT_KINDS, EVENT_STATUSES


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Published:
    """Columns every publishable object carries: global id, origin, change counter, times.

    `version` is also SQLAlchemy's optimistic-lock column: an UPDATE only succeeds against the
    version it read, so two admins editing at once cannot silently overwrite each other.
    """

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    origin: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {
            "version_id_col": cls.__table__.c.version,  # type: ignore[attr-defined]
            "version_id_generator": False,
        }

    def touch(self, now: dt.datetime | None = None) -> None:
        """Record a change: a new version and a new modification time."""
        self.version += 1
        self.updated_at = now or utcnow()


class Coalition(Published, Base):
    __tablename__ = "coalitions"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    city_slug: Mapped[str] = mapped_column(String(64), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    # [{"name": ..., "kind": ...}] in the order the admin gave; always replaced whole.
    member_organizations: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)

    @property
    def feed_path(self) -> str:
        return f"/feeds/coalitions/{self.slug}.ics"


class Campaign(Published, Base):
    """A day of action (a call) that coalitions join with parallel actions."""

    __tablename__ = "campaigns"

    coalition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("coalitions.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    call_to_action: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)

    coalition: Mapped[Coalition] = relationship(lazy="joined", innerjoin=True)
    endorsements: Mapped[list[Endorsement]] = relationship(
        back_populates="campaign",
        lazy="selectin",
        order_by="(Endorsement.created_at, Endorsement.id)",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_on_after_starts_on"),
        Index("ix_campaigns_starts_on_id", "starts_on", "id"),
    )

    @property
    def coalition_slug(self) -> str:
        return self.coalition.slug

    @property
    def feed_path(self) -> str:
        return f"/feeds/campaigns/{self.id}.ics"


class Endorsement(Published, Base):
    """An organization's support for a campaign, at a level short of or including striking."""

    __tablename__ = "endorsements"

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    organization: Mapped[str] = mapped_column(String(200))
    coalition_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("coalitions.id", ondelete="SET NULL"), index=True
    )
    level: Mapped[str] = mapped_column(String(20))

    campaign: Mapped[Campaign] = relationship(back_populates="endorsements")
    coalition: Mapped[Coalition | None] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint(_in("level", ENDORSEMENT_LEVELS), name="level_known"),
        # One organization endorses a call once; it changes its level by replacing it.
        Index("uq_endorsements_campaign_organization", "campaign_id", "organization", unique=True),
    )

    @property
    def coalition_slug(self) -> str | None:
        return self.coalition.slug if self.coalition else None


class EventTag(Base):
    __tablename__ = "event_tags"

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


class Event(Published, Base):
    """An action: one occurrence, or a series when `rrule` is set."""

    __tablename__ = "events"

    coalition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("coalitions.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    # First occurrence, stored in UTC; `timezone` is the wall clock the organizers announce in.
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    rrule: Mapped[str | None] = mapped_column(String(500))
    # Occurrence starts to skip, ISO 8601 in UTC (sortable, exact); see `exdates`.
    exdate_values: Mapped[list[str]] = mapped_column("exdates", JSON, default=list)
    # End of the last occurrence (NULL: the series never ends). Derived on every write so that
    # a date-window query can discard most events in SQL before expanding any rule.
    series_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    # What of it the occurrence index holds (federation.services.occurrences): every
    # occurrence ending after `indexed_from` (NULL: all of them) and starting before
    # `indexed_until` (9999-12-31: all; NULL: not indexed yet). Local state, never signed.
    indexed_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    indexed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    location_name: Mapped[str | None] = mapped_column(String(300))
    location_address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    online_url: Mapped[str | None] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default="confirmed", index=True)
    language: Mapped[str | None] = mapped_column(String(35))
    # Not a foreign key: a parallel action may name a campaign held by another instance.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # The event's VEVENT, rendered whenever the event is written (federation.services.changes)
    # so that serving a feed is concatenation. Deferred: listings never need it.
    ical_block: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)

    coalition: Mapped[Coalition] = relationship(lazy="joined", innerjoin=True)
    tag_rows: Mapped[list[EventTag]] = relationship(
        lazy="selectin",
        order_by=EventTag.position,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind_known"),
        CheckConstraint(_in("status", EVENT_STATUSES), name="status_known"),
        CheckConstraint("latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name="lat"),
        CheckConstraint(
            "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)", name="lon"
        ),
        Index("ix_events_starts_at_id", "starts_at", "id"),
        # The series still going at a time: few, whatever the history (services.occurrences).
        Index(
            "ix_events_series_live",
            "series_ends_at",
            postgresql_where=text("rrule IS NOT NULL"),
            sqlite_where=text("rrule IS NOT NULL"),
        ),
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @tags.setter
    def tags(self, values: list[str]) -> None:
        existing = {row.tag: row for row in self.tag_rows}
        rows = []
        for position, tag in enumerate(values):
            row = existing.get(tag) or EventTag(tag=tag, position=position)
            row.position = position
            rows.append(row)
        self.tag_rows = rows

    @property
    def exdates(self) -> list[dt.datetime]:
        return [dt.datetime.fromisoformat(value) for value in self.exdate_values]

    @exdates.setter
    def exdates(self, values: list[dt.datetime]) -> None:
        self.exdate_values = stored_exdates(values)

    @property
    def location(self) -> dict[str, Any] | None:
        fields = {
            "name": self.location_name,
            "address": self.location_address,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }
        return fields if any(v is not None for v in fields.values()) else None

    @property
    def coalition_slug(self) -> str:
        return self.coalition.slug

    @property
    def url(self) -> str:
        return event_url(self.origin, self.id)


@dataclass(kw_only=True, slots=True)
class EventRow:
    """An event as the rows it is stored in, without the ORM: what a peer's backfill inserts
    by the thousand (the ORM's bookkeeping would cost more than checking its signature).
    render_event reads it as it reads an Event."""

    id: uuid.UUID
    origin: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    coalition_id: uuid.UUID
    title: str
    description: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str
    all_day: bool
    rrule: str | None
    exdates: list[dt.datetime]
    series_ends_at: dt.datetime | None
    kind: str
    status: str
    tags: list[str]
    campaign_id: uuid.UUID | None = None
    location_name: str | None = None
    location_address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    online_url: str | None = None
    language: str | None = None
    indexed_from: dt.datetime | None = None
    indexed_until: dt.datetime | None = None

    @property
    def url(self) -> str:
        return event_url(self.origin, self.id)

    def columns(self, ical_block: bytes) -> dict[str, Any]:
        """Its row of the events table, by column name."""
        row = {name: getattr(self, name) for name in _EVENT_ROW_COLUMNS}
        return {**row, "exdates": stored_exdates(self.exdates), "ical_block": ical_block}

    def tag_rows(self) -> list[dict[str, Any]]:
        """Its rows of the event_tags table."""
        return [
            {"event_id": self.id, "tag": tag, "position": position}
            for position, tag in enumerate(self.tags)
        ]


# The events table's columns that an EventRow holds under the same name.
_EVENT_ROW_COLUMNS = tuple(
    name for name in EventRow.__dataclass_fields__ if name not in ("exdates", "tags")
)


def stored_exdates(values: list[dt.datetime]) -> list[str]:
    """Skipped occurrences as the exdates column holds them: UTC, once each, in order."""
    return sorted({v.astimezone(dt.UTC).isoformat() for v in values})


def event_url(origin: str, event_id: uuid.UUID) -> str:
    """An event's public page on its origin instance."""
    return f"{origin}/events/{event_id}"


class Occurrence(Base):
    """One day-long segment of one occurrence of an action: the occurrence index
    (federation.services.occurrences), which answers "what happens between these times" by
    one range scan of `segment_start`, whatever the series' age or the occurrences' length."""

    __tablename__ = "event_occurrences"

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    # The occurrence's start, then a day later, and so on while before its end.
    segment_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Covering: a window is answered from the index alone.
        Index("ix_event_occurrences_window", "segment_start", "ends_at", "event_id", "starts_at"),
    )


class Tombstone(Base):
    """What remains of a deleted object, so its deletion can reach peers and feeds."""

    __tablename__ = "tombstones"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    # A deleted coalition's slug, so that its feed answers 410 rather than 404.
    slug: Mapped[str | None] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def new_epoch_token() -> str:
    return secrets.token_hex(8)


class InstanceState(Base):
    """One row: a counter bumped by every write that can change a feed, and when; and the
    federation log's epoch and horizon."""

    __tablename__ = "instance_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Changes whenever the log's positions may have gone backwards (a restored backup): every
    # cursor of an older epoch is refused, so no reader trusts positions it cannot trust.
    epoch: Mapped[str] = mapped_column(String(32), default=new_epoch_token)
    # Tombstones at or below this position were purged: a cursor below it may have missed one.
    horizon: Mapped[int] = mapped_column(BigInteger, default=0)


class FederationObject(Base):
    """One entry of the federation log: the current signed version of an object, at the
    position of its last change. Changing an object moves it to a new, higher position."""

    __tablename__ = "federation_objects"

    # The object's own id (the uuid in its URL); a tombstone takes its object's place.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # Assigned at commit under a lock, so position order is commit order (docs/federation.md).
    position: Mapped[int] = mapped_column(BigInteger, unique=True, index=True)
    # The exact signed bytes: served verbatim, never re-serialized, so proofs keep verifying.
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Another origin's object: the peer that brought its current version (NULL for our own),
    # so that removing a peer can purge what it brought...
    peer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("peers.id", ondelete="SET NULL"), index=True
    )
    # ...and when that peer last listed it in a snapshot: after a full resync, what the peer
    # no longer lists was deleted while we could not see its tombstone.
    listed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Peer(Base):
    """Another instance this one pulls from, and where its reading of that peer stands."""

    __tablename__ = "peers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The peer's origin (scheme://host[:port]): its objects carry it, its endpoints hang off it.
    url: Mapped[str] = mapped_column(String(255), unique=True)
    # The instance's name from its discovery document (unknown until the first round).
    name: Mapped[str | None] = mapped_column(String(200))
    # Whether objects of *other* origins that this peer serves are accepted.
    relay: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Position in the peer's changes feed (NULL: never synced, or resync needed); and while a
    # snapshot is being read, the token of its next page.
    cursor: Mapped[str | None] = mapped_column(String(200))
    snapshot_page: Mapped[str | None] = mapped_column(String(200))
    snapshot_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The feed's entity tag when we were last up to date: an idle poll is one 304.
    etag: Mapped[str | None] = mapped_column(String(200))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When we last held everything the peer had published (the measure of lag).
    caught_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Backoff after failures: the loop does not poll before this (a manual sync does).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Removed by an admin without purging: no longer read, but kept while objects it brought
    # are here, so that they can still be purged; adding its URL again revives it.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def sync_status(self) -> Peer:
        # The API shows the reading state as a nested `status` object of the same row.
        return self

    @property
    def resyncing(self) -> bool:
        return self.cursor is None or self.snapshot_page is not None

    @property
    def lag_seconds(self) -> float | None:
        """How long since we last held everything the peer had published."""
        if self.caught_up_at is None:
            return None
        return max(0.0, (utcnow() - self.caught_up_at).total_seconds())


# Why ingest refuses another origin's object from a peer not trusted to relay; turning `relay`
# on offers those refusals again (federation.services.peers.update_peer).
NOT_TRUSTED_TO_RELAY = "this peer is not trusted to relay"


class QuarantinedObject(Base):
    """An object a peer offered that was not applied, with why: rejected (bad proof, origin
    or data), a conflict (same version, other content), or waiting (for an object it refers
    to, or for its origin's key), which is retried."""

    __tablename__ = "quarantine"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    peer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("peers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # What the object claimed to be, cut to size: it may be anything.
    object_id: Mapped[str | None] = mapped_column(String(300), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_origin: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(1000))
    # Kept for waiting objects (to retry) and for an operator to inspect; at most 64 KiB.
    envelope: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("kind", ("rejected", "conflict", "waiting")), name="kind_known"),
    )


class RemoteKey(Base):
    """A public key another origin publishes in its discovery document (cached here)."""

    __tablename__ = "remote_keys"

    # The key's id, a URL on its origin (the proof's verificationMethod).
    id: Mapped[str] = mapped_column(String(500), primary_key=True)
    origin: Mapped[str] = mapped_column(String(255), index=True)
    public_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # NULL: an instance-admin token; otherwise the one coalition it may administer.
    coalition_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("coalitions.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    coalition: Mapped[Coalition | None] = relationship(lazy="joined")

    @property
    def coalition_slug(self) -> str | None:
        return self.coalition.slug if self.coalition else None


# How many objects of a peer sit in quarantine (listing peers is rare; one subquery each).
Peer.quarantined = column_property(
    select(func.count(QuarantinedObject.id))
    .where(QuarantinedObject.peer_id == Peer.id)
    .correlate_except(QuarantinedObject)
    .scalar_subquery(),
    deferred=True,
)
