"""The federation log's writing side: every committed change of a local object becomes its
signed envelope at a new position, whatever the entry point (API, CLI, demo, sync worker).

Positions are assigned at the very end of the writing transaction, under a lock held until
commit (PostgreSQL: a transaction-scoped advisory lock; SQLite: the database's single writer
lock, which the transaction already holds once it has flushed anything). So position order is
commit order, and a reader that has seen position n has seen every commit before it: "the
ordering trap" of docs/federation.md cannot happen.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Select, event, func, select, text, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from federation.bulk import among, insert_rows
from federation.envelope import OBJECT_MAX_BYTES, canonical, object_url, sign, timestamp
from federation.models import (
    Campaign,
    Coalition,
    Endorsement,
    Event,
    FederationObject,
    InstanceState,
    Published,
    Tombstone,
    utcnow,
)
from federation.services.errors import InvalidInput
from schemas.campaigns import CampaignSchema, EndorsementSchema
from schemas.coalitions import CoalitionSchema
from schemas.events import EventSchema

PUBLISHER_KEY = "federation.publisher"
_PENDING_KEY = "federation.outbox.pending"
_RELAYED_KEY = "federation.outbox.relayed"
# Any constant works as long as everything that assigns positions uses the same one.
LOG_LOCK = 0x5F_ED_10_6

# Within one transaction, referenced objects come first, so a reader applying a page in order
# never meets a campaign before its coalition, nor an event before the campaign it joins.
TYPE_ORDER = ("Coalition", "Campaign", "Endorsement", "Event", "Tombstone")
_TYPE_NAMES: dict[type[Any], str] = {
    Coalition: "Coalition",
    Campaign: "Campaign",
    Endorsement: "Endorsement",
    Event: "Event",
    Tombstone: "Tombstone",
}

# What the public API shows that is no business of other instances: the envelope already
# carries id, origin, version and times; feed links and page URLs are this host's own; slugs
# of *other* objects are replaced by their global ids; a campaign's endorsements are objects
# of their own.
_RESOURCE_FIELDS = ("id", "origin", "version", "created_at", "updated_at")
_LINK_FIELDS = ("feed_url", "webcal_url", "google_calendar_url")
_SCHEMAS = {
    "Coalition": CoalitionSchema(exclude=(*_RESOURCE_FIELDS, *_LINK_FIELDS)),
    "Campaign": CampaignSchema(
        exclude=(*_RESOURCE_FIELDS, *_LINK_FIELDS, "coalition", "endorsements")
    ),
    "Endorsement": EndorsementSchema(exclude=(*_RESOURCE_FIELDS, "coalition")),
    "Event": EventSchema(exclude=(*_RESOURCE_FIELDS, "coalition", "url")),
}


@dataclass(frozen=True)
class Publisher:
    """Who signs this instance's objects: its origin and its active key."""

    origin: str
    private_key: Ed25519PrivateKey
    key_id: str


@dataclass(frozen=True)
class RelayedObject:
    """Another origin's envelope accepted by the reading side, to be served on verbatim."""

    id: uuid.UUID
    type: str
    origin: str
    version: int
    envelope: bytes
    # The peer it came from (see FederationObject.peer_id).
    peer_id: uuid.UUID | None = None


def install(factory: sessionmaker[Session], publisher: Publisher) -> None:
    """Log every change of a local object committed through sessions of `factory`."""
    factory.configure(info={PUBLISHER_KEY: publisher})
    event.listen(factory, "before_flush", _note_changes)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_transaction_end", _forget)


def publisher_of(session: Session) -> Publisher:
    publisher = session.info.get(PUBLISHER_KEY)
    if not isinstance(publisher, Publisher):
        raise RuntimeError("this session has no federation publisher (see outbox.install)")
    return publisher


def log_relayed(session: Session, relayed: RelayedObject) -> None:
    """Queue another origin's envelope for the log; it gets its position at commit."""
    pending_relayed(session)[relayed.id] = relayed


def pending_relayed(session: Session) -> dict[uuid.UUID, RelayedObject]:
    """What log_relayed queued in this transaction (a caller that rolls back a SAVEPOINT
    restores it: unlike our own objects, queued envelopes are not rechecked at commit)."""
    pending: dict[uuid.UUID, RelayedObject] = session.info.setdefault(_RELAYED_KEY, {})
    return pending


def head(session: Session) -> int:
    """The highest position ever assigned (purged tombstones included)."""
    highest = session.scalar(select(func.max(FederationObject.position))) or 0
    horizon = session.scalar(select(InstanceState.horizon).where(InstanceState.id == 1)) or 0
    return max(highest, horizon)


def lock_log(session: Session) -> None:
    """Serialize position assignment with every other writer until this transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK})
    else:
        # SQLite has one writer at a time. A writing session holds that lock from its BEGIN
        # (federation.db); any other transaction takes it here, before the head is read, so
        # no other writer can slip between.
        session.execute(
            update(InstanceState).where(InstanceState.id == 1).values(horizon=InstanceState.horizon)
        )


def publish_unlogged(session: Session) -> int:
    """Log every local object whose current version is not in the log yet (after an upgrade
    from a version without the log, or a crash of an older release); returns how many."""
    publisher = publisher_of(session)
    logged = dict(session.execute(select(FederationObject.id, FederationObject.version)).all())
    origin = publisher.origin
    queries: list[Select[Any]] = [
        select(Coalition).where(Coalition.origin == origin),
        select(Campaign).where(Campaign.origin == origin),
        select(Endorsement).where(Endorsement.origin == origin),
        select(Event).where(Event.origin == origin),
        select(Tombstone).where(Tombstone.origin == origin),
    ]
    candidates: list[Published | Tombstone] = []
    for query in queries:
        candidates += [obj for obj in session.scalars(query) if logged.get(obj.id) != obj.version]
    return _publish(session, publisher, candidates)


def _note_changes(session: Session, _context: Any, _instances: Any) -> None:
    publisher = session.info.get(PUBLISHER_KEY)
    if publisher is None:
        return
    pending: dict[int, Published | Tombstone] = session.info.setdefault(_PENDING_KEY, {})
    for obj in (*session.new, *session.dirty):
        # Only the origin speaks for its objects; other origins' objects arrive signed and are
        # logged verbatim by the reading side (log_relayed).
        if type(obj) in _TYPE_NAMES and obj.origin == publisher.origin:
            pending[id(obj)] = obj


def _before_commit(session: Session) -> None:
    publisher = session.info.get(PUBLISHER_KEY)
    if publisher is None:
        return
    # The final flush happens after this hook; flush now so ids and versions are final.
    session.flush()
    pending = session.info.pop(_PENDING_KEY, {})
    relayed: dict[uuid.UUID, RelayedObject] = session.info.pop(_RELAYED_KEY, {})
    if pending or relayed:
        _publish(session, publisher, pending.values(), relayed.values())


def _forget(session: Session, transaction: SessionTransaction) -> None:
    # Only when the session's outermost transaction ends (committed, rolled back or closed).
    # A rolled-back SAVEPOINT leaves its objects noted: what was really written is rechecked
    # at commit, where a noted object that no longer exists, or whose version is already
    # logged, is skipped.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_RELAYED_KEY, None)


def _publish(
    session: Session,
    publisher: Publisher,
    objects: Iterable[Published | Tombstone],
    relayed: Iterable[RelayedObject] = (),
) -> int:
    live = [obj for obj in objects if not _gone(obj)]
    entries: list[tuple[str, uuid.UUID, int, Published | Tombstone | RelayedObject]] = [
        (_TYPE_NAMES[type(obj)], obj.id, obj.version, obj) for obj in live
    ]
    entries += [(item.type, item.id, item.version, item) for item in relayed]
    if not entries:
        return 0
    lock_log(session)
    ids = list({entry[1] for entry in entries})
    rows: dict[uuid.UUID, FederationObject] = {}
    # In chunks: SQLite caps the number of bound parameters of one statement.
    for start in range(0, len(ids), 500):
        chunk = select(FederationObject).where(
            among(session, FederationObject.id, ids[start : start + 500])
        )
        rows.update((row.id, row) for row in session.scalars(chunk))
    # One entry per object (the last noted wins: it is what is in the database now), and only
    # when the logged version differs: touching a row without changing it publishes nothing.
    unique = {entry[1]: entry for entry in entries}
    changed = [
        entry
        for entry in unique.values()
        if entry[1] not in rows
        or rows[entry[1]].version != entry[2]
        or rows[entry[1]].type != entry[0]
    ]
    changed.sort(key=lambda entry: TYPE_ORDER.index(entry[0]) if entry[0] in TYPE_ORDER else 99)
    position = head(session)
    now = utcnow()
    # Objects logged for the first time are inserted in bulk, not one by one by the unit of
    # work: a sync page logs hundreds of them.
    new: list[dict[str, Any]] = []
    for type_name, object_id, version, source in changed:
        position += 1
        row = rows.get(object_id)
        if isinstance(source, RelayedObject):
            raw, origin, peer_id = source.envelope, source.origin, source.peer_id
        else:
            envelope = _envelope(publisher, type_name, source, row, now)
            raw = canonical(envelope)
            if len(raw) > OBJECT_MAX_BYTES:
                _too_large(type_name, envelope["data"], len(raw))
            origin, peer_id = publisher.origin, None
        values: dict[str, Any] = {
            "type": type_name,
            "origin": origin,
            "version": version,
            "peer_id": peer_id,
            "position": position,
            "envelope": raw,
            "changed_at": now,
        }
        if peer_id is not None:
            values["listed_at"] = now
        if row is None:
            new.append({"id": object_id, **values})
        else:
            for name, value in values.items():
                setattr(row, name, value)
    # The positions must be written inside this transaction, under the lock.
    session.flush()
    insert_rows(session, FederationObject.__table__, new)
    return len(changed)


def _gone(obj: Published | Tombstone) -> bool:
    # Deleted in this transaction (its tombstone is logged instead), or rolled back.
    state = instance_state(obj)
    return state.deleted or state.was_deleted or state.transient


def _too_large(type_name: str, data: dict[str, Any], size: int) -> None:
    """Refuse a change whose signed form peers would refuse: written anyway, it would never
    reach them, and nobody would know. Field sizes are counted in characters, and one
    character takes up to four bytes, so the longest text allowed can be too long here."""
    texts = {name: value for name, value in data.items() if isinstance(value, str)}
    longest = max(texts, key=lambda name: len(texts[name].encode()), default="_schema")
    raise InvalidInput(
        f"This {type_name.lower()} is too large to share with other instances.",
        {
            longest: [
                f"Signed for other instances it would take {size} bytes, over the "
                f"{OBJECT_MAX_BYTES} they accept: shorten the text."
            ]
        },
    )


def _envelope(
    publisher: Publisher,
    type_name: str,
    obj: Published | Tombstone,
    previous: FederationObject | None,
    now: dt.datetime,
) -> dict[str, Any]:
    if isinstance(obj, Tombstone):
        # A tombstone keeps the first publication time of the object it replaces.
        published = obj.deleted_at
        if previous is not None:
            published = dt.datetime.fromisoformat(json.loads(previous.envelope)["published"])
        times = (published, obj.deleted_at)
        data: dict[str, Any] = {"former_type": obj.type}
    else:
        times = (obj.created_at, obj.updated_at)
        data = object_data(type_name, obj)
    envelope = {
        "id": object_url(publisher.origin, obj.id),
        "type": type_name,
        "origin": publisher.origin,
        "version": obj.version,
        "published": timestamp(times[0]),
        "updated": timestamp(times[1]),
        "data": data,
    }
    return sign(envelope, publisher.private_key, publisher.key_id, created=now)


def object_data(type_name: str, obj: Published) -> dict[str, Any]:
    """The object as the public API shows it, minus what is local; references by global id."""
    data: dict[str, Any] = _SCHEMAS[type_name].dump(obj)
    if isinstance(obj, Campaign | Event):
        data["coalition_id"] = str(obj.coalition_id)
    if isinstance(obj, Endorsement):
        data["campaign_id"] = str(obj.campaign_id)
        data["coalition_id"] = str(obj.coalition_id) if obj.coalition_id else None
    location = data.get("location")
    if location:
        # No floats in signed data: their shortest round-trip text differs between languages.
        for name in ("latitude", "longitude"):
            if location.get(name) is not None:
                location[name] = repr(float(location[name]))
    return data
