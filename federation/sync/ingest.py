"""Applying other origins' signed objects: the ingest rules of docs/federation.md, per object.

Every object a peer serves is checked on its own (size, identity, trust, proof, version,
data) and either applied, found unchanged, ignored (older, or our own), or quarantined with
the reason: a bad object never stops the objects around it, and never stalls the cursor.
A page is applied inside one SAVEPOINT; if the database refuses it (a constraint no check
foresaw), the page is applied again one object per SAVEPOINT, so that only the culprit fails.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, lazyload

from federation.bulk import among, insert_rows
from federation.envelope import (
    DISCOVERY_PATH,
    OBJECTS_PATH,
    ProofError,
    check_identity,
    decode,
    public_key_from_multibase,
)
from federation.ical import render_event
from federation.models import (
    NOT_TRUSTED_TO_RELAY,
    Campaign,
    Coalition,
    Endorsement,
    Event,
    EventRow,
    EventTag,
    FederationObject,
    Occurrence,
    Peer,
    QuarantinedObject,
    RemoteKey,
    Tombstone,
    utcnow,
)
from federation.services import events as event_service
from federation.services import occurrences
from federation.services.campaigns import bury_endorsements_of
from federation.services.changes import note_feed_change
from federation.services.errors import InvalidInput
from federation.services.outbox import RelayedObject, log_relayed, pending_relayed
from federation.sync.checks import (
    Envelope,
    EnvelopeChecker,
    Unkeepable,
    Verdict,
    invalid_data,
    keepable,
)
from federation.sync.fetch import FetchError

# Signed versions are integers; ours fit a 32-bit column, and so must everyone's.
MAX_VERSION = 2**31 - 1
# Keys are re-read from their origin's discovery document at most this often (unless an
# object names a key we do not know), so a revocation reaches us within the hour.
KEY_TTL = dt.timedelta(hours=1)
KEY_STATUSES = ("active", "retired", "revoked")
# Origins whose discovery documents one round may fetch (see refresh_keys).
MAX_DISCOVERIES = 8
# Envelopes sent to the envelope checker at a time: small enough that the first verdicts come
# back while the page is still being read, large enough that sending them costs little.
CHECK_BATCH = 50
# Waiting objects retried per round, oldest first: a flood of orphans cannot stall a round.
WAITING_RETRY_LIMIT = 1000
# What one peer's quarantine may hold. Every refused object is recorded, and a hostile peer can
# serve refusable objects without end (10,000 a round, each with up to 64 KiB of envelope): the
# records would fill the disk. The newest refusals are kept, the ones an operator looks for.
REFUSED_KEPT = 1000
# Waiting objects past this many are refused instead: an honest peer's objects wait briefly,
# for an object or a key on its way, so a crowd of them is junk that would never be applied.
WAITING_KEPT = 10_000

APPLIED, UNCHANGED, IGNORED = "applied", "unchanged", "ignored"
REJECTED, CONFLICT, WAITING = "rejected", "conflict", "waiting"

_FORMER_TYPES: dict[str, type[Coalition | Campaign | Endorsement | Event]] = {
    "Coalition": Coalition,
    "Campaign": Campaign,
    "Endorsement": Endorsement,
    "Event": Event,
}

_Row = TypeVar("_Row")

Discover = Callable[[str], Mapping[str, Any]]
"""Fetch the discovery document of an origin (raises FetchError or ValueError)."""


class _Refused(Exception):
    """Why one object is not applied; `kind` says whether it is retried later."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _reject(reason: str) -> _Refused:
    return _Refused(REJECTED, reason)


def _wait(reason: str) -> _Refused:
    return _Refused(WAITING, reason)


@dataclass
class _Batch:
    """Envelopes sent together to the envelope checker, and (once asked for) their verdicts."""

    envelopes: list[Envelope] = field(default_factory=list)
    future: Future[list[Verdict]] | None = None
    verdicts: list[Verdict] | None = None

    def add(self, envelope: Envelope) -> int:
        self.envelopes.append(envelope)
        return len(self.envelopes) - 1

    def submit(self, checker: EnvelopeChecker) -> None:
        """Send the envelopes (if any, and not sent yet)."""
        if self.envelopes and self.future is None:
            self.future = checker.submit(self.envelopes)

    def verdict(self, checker: EnvelopeChecker, index: int) -> Verdict:
        if self.verdicts is None:
            assert self.future is not None
            self.verdicts = checker.result(self.future, self.envelopes)
        return self.verdicts[index]


@dataclass
class CheckedAhead:
    """A page whose envelopes went to the checker before it was applied (while the page
    before it was): per item, the key it was checked against (None: not checked ahead) and
    where its verdict will be."""

    items: list[Any]
    keys: list[bytes | None]
    where: dict[int, tuple[_Batch, int]]


@dataclass(frozen=True)
class _Claim:
    """What an envelope says it is; once checked, with its canonical bytes and loaded data."""

    envelope: dict[str, Any]
    id: uuid.UUID
    type: str
    origin: str
    version: int
    published: dt.datetime
    updated: dt.datetime
    data: dict[str, Any]
    raw: bytes = b""
    values: dict[str, Any] | None = None  # `data` loaded by its type's schema
    invalid: str | None = None  # why `data` breaks that schema

    def checked(self, verdict: Verdict) -> _Claim:
        return replace(self, raw=verdict.raw, values=verdict.values, invalid=verdict.invalid)


def local_slug(slug: str, origin: str) -> str:
    """The slug another origin's coalition gets here: its own, qualified by its host.

    Every instance names its coalitions freely; qualifying keeps them apart from ours and
    from each other's, the same way on every ingest.
    """
    host = re.sub(r"[^a-z0-9]+", "-", origin.split("://", 1)[-1].lower()).strip("-")
    qualified = f"{slug}-{host}"
    if len(qualified) <= 64:
        return qualified
    # Long names: keep the readable start, and a digest so two long names stay apart.
    digest = uuid.uuid5(uuid.NAMESPACE_URL, qualified).hex[:8]
    return f"{qualified[:55].strip('-')}-{digest}"


def _moment(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise _reject(f"{name} is missing")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _reject(f"{name} is not a time") from exc
    if moment.tzinfo is None:
        raise _reject(f"{name} has no offset")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # the ends of the datetime range, shifted by their offset
        raise _reject(f"{name} is not a time") from exc


def _storable(text: str) -> str:
    """A peer's text as any database stores it: PostgreSQL refuses NUL, and a lone surrogate
    (valid in JSON) is not UTF-8."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _values(claim: _Claim) -> dict[str, Any]:
    """The object's fields, by the same schema as the API's (a rejection if they break it)."""
    if claim.invalid is not None or claim.values is None:
        raise _reject(claim.invalid or "invalid data")
    return claim.values


def _uuid(value: Any, *, tail: bool = False) -> uuid.UUID | None:
    """The uuid `value` holds (`tail`: a URL ending in one), or None."""
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value.rsplit("/", 1)[-1] if tail else value)
    except ValueError:
        return None


def _reference(data: Mapping[str, Any], name: str) -> uuid.UUID | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise _reject(f"data.{name} is not an id") from exc


class Ingest:
    """Applies what one peer serves, within the caller's transaction (the caller commits the
    objects together with the peer's new cursor)."""

    def __init__(
        self,
        session: Session,
        peer: Peer,
        *,
        own_origin: str,
        discover: Discover,
        checker: EnvelopeChecker | None = None,
    ):
        self.session = session
        self.peer = peer
        self.own_origin = own_origin
        self.discover = discover
        # Checks a page's envelopes in batches (in a helper process if it has one).
        self.checker = checker or EnvelopeChecker(0)
        self.counts: Counter[str] = Counter()
        self._keys: dict[str, bytes] = {}  # key id -> the raw Ed25519 public key
        self._refreshed: dict[str, str | None] = {}  # origin -> error of this round's refresh
        # The round's end (time.monotonic()); None: no limit.
        self.deadline: float | None = None
        # While a page is applied: rows by (model, id) as its prefetch found them (None: absent),
        # kept up to date by what the page adds and deletes (see `_get`).
        self._held: dict[tuple[type[Any], uuid.UUID], Any] = {}
        # New events of the page, inserted together (`_store_new_events`).
        self._new_events: dict[uuid.UUID, EventRow] = {}
        # Objects waiting in quarantine: the ids they claimed, by the uuid those end with, so
        # that applying an object finds its waiting copies without a query.
        self._waiting: dict[str, set[str]] = {}
        for text_id in session.scalars(
            select(QuarantinedObject.object_id).where(QuarantinedObject.kind == WAITING)
        ):
            if text_id:
                self._note_waiting(text_id)
        # This peer's waiting objects, as counted when the page began plus those it added.
        self._waiting_here = 0
        # Whether the page recorded refusals (the peer's oldest are then dropped past the limit).
        self._refused_added = False

    # -- pages -------------------------------------------------------------------------------

    def apply_page(
        self, items: Iterable[Any], *, listed: bool = False, ahead: CheckedAhead | None = None
    ) -> None:
        """Apply a page of envelopes in order. `listed`: the page is a snapshot's, so the
        objects it names are marked as still held by the peer (see `sweep`). `ahead`: what
        `check_ahead` sent to the checker of this page."""
        items = list(items)
        pending = pending_relayed(self.session)
        before_pending, before_counts = dict(pending), self.counts.copy()
        self._waiting_here = self._count_waiting()
        try:
            with self.session.begin_nested():
                self._apply_all(items, listed, ahead)
                self.session.flush()
        except SQLAlchemyError:
            # Something the checks did not foresee: find the culprit one object at a time.
            pending.clear()
            pending.update(before_pending)
            self.counts = before_counts
            self._waiting_here = self._count_waiting()
            for item in items:
                self._apply_alone(item, listed)
        if self._refused_added:
            self._drop_old_refusals()

    def _apply_all(self, items: list[Any], listed: bool, ahead: CheckedAhead | None = None) -> None:
        self._prefetch(items)
        try:
            seen: list[uuid.UUID] = []
            for item, checked in zip(items, self._check_page(items, ahead), strict=True):
                outcome, object_id = self._apply_one(item, checked)
                # An older version than ours, or a conflicting one, is still listed: the peer
                # has the object (e.g. restored from a backup), so `sweep` must keep ours.
                if object_id is not None and outcome in (APPLIED, UNCHANGED, IGNORED, CONFLICT):
                    seen.append(object_id)
            self._store_new_events()
            if listed and seen:
                self._mark_listed(seen)
        finally:
            self._held.clear()
            self._new_events.clear()

    def _apply_alone(self, item: Any, listed: bool) -> None:
        pending = pending_relayed(self.session)
        before, before_counts = dict(pending), self.counts.copy()
        try:
            with self.session.begin_nested():
                self._apply_all([item], listed)
                self.session.flush()
        except SQLAlchemyError as exc:
            pending.clear()
            pending.update(before)
            self.counts = before_counts  # it was counted as applied before the flush failed
            self._quarantine(item, REJECTED, f"could not be stored: {type(exc).__name__}")

    def _prefetch(self, items: list[Any]) -> None:
        # One query per table for the whole page, instead of several per object. What they
        # found, and what they did not, is held until the page is applied (`_get`): a lookup
        # per object would be a SELECT each, and before it a flush of everything pending.
        wanted: dict[type[Any], set[uuid.UUID]] = {
            model: set()
            for model in (FederationObject, Tombstone, Coalition, Campaign, Endorsement, Event)
        }
        for item in items:
            if not isinstance(item, dict):
                continue
            data = item.get("data")
            data = data if isinstance(data, dict) else {}
            object_id = _uuid(item.get("id"), tail=True)
            if object_id is not None:
                wanted[FederationObject].add(object_id)
                wanted[Tombstone].add(object_id)
                kind = item.get("type")
                if kind == "Tombstone":
                    kind = data.get("former_type")
                model = _FORMER_TYPES.get(kind) if isinstance(kind, str) else None
                if model is not None:
                    wanted[model].add(object_id)
            for name, owner in (("coalition_id", Coalition), ("campaign_id", Campaign)):
                reference = _uuid(data.get(name))
                if reference is not None:
                    wanted[owner].add(reference)
        for model, ids in wanted.items():
            query = select(model)
            if model in (Campaign, Endorsement, Event):
                # Not joined: the coalitions are held already, and the join lets PostgreSQL
                # pick a plan that reads every event of the coalition (with the statistics of
                # a table that was small when last analyzed, as during a first backfill).
                query = query.options(lazyload(model.coalition))
            listed = list(ids)
            for start in range(0, len(listed), 500):
                chunk = listed[start : start + 500]
                rows = self.session.scalars(query.where(among(self.session, model.id, chunk)))
                found = {row.id: row for row in rows}
                for object_id in chunk:
                    self._held[model, object_id] = found.get(object_id)

    def _get(self, model: type[_Row], object_id: uuid.UUID) -> _Row | None:
        """`session.get`, answered without a query from the page's new events (not in the
        session yet) and from what the page's prefetch found."""
        if model is Event and object_id in self._new_events:
            return cast(_Row, self._new_events[object_id])
        if (model, object_id) in self._held:
            return cast(_Row | None, self._held[model, object_id])
        return self.session.get(model, object_id)

    def _store_new_events(self) -> None:
        """Insert the new events held back so far, in bulk, with what the session's flush
        hooks (federation.services.changes) would have done for them: each one's VEVENT
        rendered and stored, its occurrences indexed, and the feeds' revision bumped.

        A flush per object, or even one unit of work for the whole page, costs more than
        checking a signature; a bulk insert of the same rows costs a fraction of it.
        """
        if not self._new_events:
            return
        events = list(self._new_events.values())
        self._new_events.clear()
        # What they refer to (a coalition applied earlier in this page) goes first.
        self.session.flush()
        index = occurrences.index_new(events, now=utcnow())
        insert_rows(self.session, Event.__table__, [e.columns(render_event(e)) for e in events])
        insert_rows(self.session, EventTag.__table__, [r for e in events for r in e.tag_rows()])
        insert_rows(self.session, Occurrence.__table__, index)
        for event in events:
            # From now on the database holds it: later lookups load it from there.
            self._held.pop((Event, event.id), None)
        note_feed_change(self.session)

    def _hold(self, model: type[Any], object_id: uuid.UUID, row: Any) -> None:
        if (model, object_id) in self._held:
            self._held[model, object_id] = row

    def _mark_listed(self, ids: list[uuid.UUID]) -> None:
        now = utcnow()
        # The prefetch knows which log rows exist and who brought them: those of this peer
        # are updated by id alone, and objects not logged yet (all of them in a first
        # backfill) are marked when the outbox logs them at commit. Only the rows it could
        # not look for are left to the database to sort out by peer. (Matching on the peer
        # for every id leads PostgreSQL, with the statistics of a table that was small when
        # last analyzed, to read every row this peer ever brought.)
        ours: list[uuid.UUID] = []
        unknown: list[uuid.UUID] = []
        for object_id in ids:
            if (FederationObject, object_id) not in self._held:
                unknown.append(object_id)
            elif getattr(self._held[FederationObject, object_id], "peer_id", None) == self.peer.id:
                ours.append(object_id)
        for chosen, by_peer in ((ours, False), (unknown, True)):
            for start in range(0, len(chosen), 500):
                query = update(FederationObject).where(
                    among(self.session, FederationObject.id, chosen[start : start + 500])
                )
                if by_peer:
                    query = query.where(FederationObject.peer_id == self.peer.id)
                self.session.execute(query.values(listed_at=now))

    # -- one object --------------------------------------------------------------------------

    def _apply_one(self, item: Any, checked: _Claim | _Refused) -> tuple[str, uuid.UUID | None]:
        claim: _Claim | None = None
        try:
            if isinstance(checked, _Refused):
                raise checked
            claim = checked
            outcome = self._apply(claim)
        except _Refused as refused:
            self._quarantine(item, refused.kind, refused.reason)
            if claim is not None and refused.kind == CONFLICT:
                return refused.kind, claim.id  # a verified object the peer does hold
            return refused.kind, None
        self.counts[outcome] += 1
        if outcome == APPLIED and str(claim.id) in self._waiting:
            self._forget_waiting(claim.id)
        return outcome, claim.id

    def check_ahead(self) -> Callable[[list[Any]], CheckedAhead]:
        """A function, safe to call from another thread, that sends a page's envelopes to the
        checker with the keys held now, so they are checked while the page before is applied.

        Nothing is decided by it: when the page is applied, every object is checked as usual
        (identity, trust, which key) and uses its verdict from ahead only if its key is still
        the one it was checked against.
        """
        keys, checker = dict(self._keys), self.checker

        def check(items: list[Any]) -> CheckedAhead:
            ahead = CheckedAhead(items, [None] * len(items), {})
            batch = _Batch()
            for position, item in enumerate(items):
                proof = item.get("proof") if isinstance(item, dict) else None
                key_id = proof.get("verificationMethod") if isinstance(proof, dict) else None
                key = keys.get(key_id) if isinstance(key_id, str) else None
                if key is None:
                    continue
                ahead.keys[position] = key
                ahead.where[position] = (batch, batch.add(Envelope(key, item)))
                if len(batch.envelopes) == CHECK_BATCH:
                    batch.submit(checker)
                    batch = _Batch()
            batch.submit(checker)
            return ahead

        return check

    def _check_page(
        self, items: list[Any], ahead: CheckedAhead | None = None
    ) -> Iterator[_Claim | _Refused]:
        """Steps 1-3 of the ingest rules for each item of a page, in order, and its data
        loaded by its schema.

        What needs the database (identity, trust, which key) is checked first, for the whole
        page; the rest (canonical bytes, size, signature, data) goes to the envelope checker in
        batches as they are found, so that while the caller applies the first objects, the
        next ones are being checked on another core.
        """
        checked: list[_Claim | _Refused] = []
        where: dict[int, tuple[_Batch, int]] = {}
        batch = _Batch()
        for position, item in enumerate(items):
            try:
                claim, envelope = self._check(item)
            except _Refused as refused:
                checked.append(refused)
                continue
            checked.append(claim)
            if (
                ahead is not None
                and position < len(ahead.items)
                and ahead.items[position] is item
                and ahead.keys[position] == envelope.key
            ):
                where[position] = ahead.where[position]
                continue
            where[position] = (batch, batch.add(envelope))
            if len(batch.envelopes) == CHECK_BATCH:
                batch.submit(self.checker)
                batch = _Batch()
        batch.submit(self.checker)
        for position, entry in enumerate(checked):
            if position in where:
                owner, index = where[position]
                verdict = owner.verdict(self.checker, index)
                entry = (
                    _reject(verdict.refusal)
                    if verdict.refusal
                    else cast(_Claim, entry).checked(verdict)
                )
            yield entry

    def _check(self, item: Any) -> tuple[_Claim, Envelope]:
        """Steps 1-3 of the ingest rules that need this instance: identity and trust, and the
        proof's key; returns the claim and what the envelope checker must check of it."""
        if not isinstance(item, dict):
            raise _reject("not a JSON object")
        try:
            origin = check_identity(item)
        except ProofError as exc:
            raise _reject(str(exc)) from exc
        if origin == self.own_origin:
            raise _Refused(IGNORED, "our own object")
        if origin != self.peer.url and not self.peer.relay:
            raise _reject(f"an object of {origin}: {NOT_TRUSTED_TO_RELAY}")
        type_name, version = item.get("type"), item.get("version")
        if not isinstance(type_name, str) or not 0 < len(type_name) <= 40:
            raise _reject("type is missing")
        if not isinstance(version, int) or isinstance(version, bool):
            raise _reject("version is not an integer")
        if not 1 <= version <= MAX_VERSION:
            raise _reject("version out of range")
        try:
            object_id = uuid.UUID(item["id"][len(f"{origin}{OBJECTS_PATH}") :])
        except ValueError as exc:
            raise _reject("the object's id does not end in a uuid") from exc
        data = item.get("data")
        if not isinstance(data, dict):
            raise _reject("data is missing")
        claim = _Claim(
            envelope=item,
            id=object_id,
            type=type_name,
            origin=origin,
            version=version,
            published=_moment(item.get("published"), "published"),
            updated=_moment(item.get("updated"), "updated"),
            data=data,
        )
        key = self._key(origin, item["proof"]["verificationMethod"])
        return claim, Envelope(key, item)

    def _apply(self, claim: _Claim) -> str:
        """Steps 4 and on: version rules, then the object's own rules; logs it for relaying."""
        logged = self._get(FederationObject, claim.id)
        if logged is not None:
            if logged.origin != claim.origin:
                raise _reject(f"this id belongs to an object of {logged.origin}")
            if logged.version > claim.version:
                return IGNORED
            if logged.version == claim.version:
                if logged.envelope == claim.raw:
                    return UNCHANGED
                raise _Refused(CONFLICT, "same version as ours with other content; ours kept")
        tombstone = self._get(Tombstone, claim.id)
        if tombstone is not None:
            if tombstone.origin != claim.origin:
                raise _reject(f"this id belongs to an object of {tombstone.origin}")
            if tombstone.version >= claim.version:
                return IGNORED  # deleted: nothing older than the deletion comes back
        apply = _APPLY.get(claim.type)
        if claim.type != "Event":
            # Whatever else it does (a deletion cascades), it sees the new events stored.
            self._store_new_events()
        if apply is not None:
            apply(self, claim)
        # Unknown types are kept and relayed, not shown: a later release may know them.
        log_relayed(
            self.session,
            RelayedObject(
                claim.id, claim.type, claim.origin, claim.version, claim.raw, self.peer.id
            ),
        )
        return APPLIED

    def _existing(self, model: type[Any], claim: _Claim) -> Any:
        row = self._get(model, claim.id)
        if row is not None and row.origin != claim.origin:
            raise _reject(f"this id belongs to an object of {row.origin}")
        return row

    def _stamp(self, row: Any, claim: _Claim, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            setattr(row, name, value)
        row.origin = claim.origin
        row.version = claim.version
        row.created_at = claim.published
        row.updated_at = claim.updated

    def _coalition(self, claim: _Claim) -> None:
        values = _values(claim)
        slug = local_slug(values.pop("slug"), claim.origin)
        taken = self.session.scalar(select(Coalition.id).where(Coalition.slug == slug))
        if taken is not None and taken != claim.id:
            raise _reject(f"the slug {slug} is taken here")
        row = self._existing(Coalition, claim)
        if row is None:
            row = Coalition(id=claim.id, slug=slug)
            self.session.add(row)
            self._hold(Coalition, claim.id, row)
        self._stamp(row, claim, {"slug": slug, **values})

    def _owner(self, claim: _Claim) -> Coalition:
        coalition_id = _reference(claim.data, "coalition_id")
        coalition = self._get(Coalition, coalition_id) if coalition_id else None
        if coalition is None:
            raise _wait(f"waiting for its coalition {coalition_id}")
        if coalition.origin != claim.origin:
            raise _reject("its coalition belongs to another origin")
        return coalition

    def _campaign(self, claim: _Claim) -> None:
        values = _values(claim)
        if values["ends_on"] < values["starts_on"]:
            raise _reject("the campaign ends before it starts")
        coalition = self._owner(claim)
        row = self._existing(Campaign, claim)
        if row is None:
            row = Campaign(id=claim.id)
            self.session.add(row)
            self._hold(Campaign, claim.id, row)
        self._stamp(row, claim, {"coalition": coalition, **values})

    def _endorsement(self, claim: _Claim) -> None:
        values = _values(claim)
        campaign_id = _reference(claim.data, "campaign_id")
        campaign = self._get(Campaign, campaign_id) if campaign_id else None
        if campaign is None:
            raise _wait(f"waiting for its campaign {campaign_id}")
        other = self.session.scalar(
            select(Endorsement.id).where(
                Endorsement.campaign_id == campaign.id,
                Endorsement.organization == values["organization"],
            )
        )
        if other is not None and other != claim.id:
            # Most likely the earlier endorsement's withdrawal has not reached us yet.
            raise _wait("another endorsement by this organization is held here")
        coalition_id = _reference(claim.data, "coalition_id")
        coalition = self._get(Coalition, coalition_id) if coalition_id else None
        if coalition is not None and coalition.origin != claim.origin:
            # The campaign may be another origin's (a day of action called elsewhere), but an
            # origin speaks only for its own coalitions.
            raise _reject("its coalition belongs to another origin")
        row = self._existing(Endorsement, claim)
        if row is None:
            row = Endorsement(id=claim.id)
            self.session.add(row)
            self._hold(Endorsement, claim.id, row)
        self._stamp(row, claim, {"campaign": campaign, "coalition": coalition, **values})

    def _event(self, claim: _Claim) -> None:
        loaded = _values(claim)
        coalition = self._owner(claim)
        try:
            # The same rules as for our own actions (recurrence limits included), except that
            # a day of action we have not received may be named.
            values = event_service.event_values(
                self.session, coalition, loaded, check_campaign=False
            )
        except InvalidInput as exc:
            raise _reject(invalid_data(exc.errors)) from exc
        row = self._existing(Event, claim)
        if row is None or isinstance(row, EventRow):
            # Not added to the session: inserted with the page's other new events (see
            # `_store_new_events`).
            self._new_events[claim.id] = EventRow(
                **values,
                id=claim.id,
                origin=claim.origin,
                version=claim.version,
                created_at=claim.published,
                updated_at=claim.updated,
                coalition_id=coalition.id,
            )
            return
        self._stamp(row, claim, {"coalition": coalition, **values})

    def _tombstone(self, claim: _Claim) -> None:
        former = claim.data.get("former_type")
        model = _FORMER_TYPES.get(former) if isinstance(former, str) else None
        slug = None
        if model is not None:
            row = self._existing(model, claim)
            if row is not None:
                slug = getattr(row, "slug", None)
                self._bury_our_endorsements(model, [claim.id])
                # The database removes what depended on it (its copies of the origin's
                # actions, campaigns...), whose own tombstones the origin publishes too.
                self.session.delete(row)
                self._hold(model, claim.id, None)
                if model in (Coalition, Campaign):
                    # The database deletes and updates what depended on it: look again.
                    self._held.clear()
        tombstone = self._get(Tombstone, claim.id)
        if tombstone is None:
            tombstone = Tombstone(id=claim.id)
            self.session.add(tombstone)
            self._hold(Tombstone, claim.id, tombstone)
        tombstone.type = (former if isinstance(former, str) else "Unknown")[:20]
        tombstone.slug = slug or tombstone.slug
        tombstone.origin = claim.origin
        tombstone.version = claim.version
        tombstone.deleted_at = claim.updated

    def _bury_our_endorsements(self, model: type[Any], ids: list[uuid.UUID]) -> None:
        """Before another origin's campaigns or coalitions go: see bury_endorsements_of."""
        if model is Campaign:
            bury_endorsements_of(self.session, campaigns=ids)
        elif model is Coalition:
            bury_endorsements_of(self.session, coalitions=ids)

    # -- keys --------------------------------------------------------------------------------

    def _key(self, origin: str, key_id: str) -> bytes:
        """The origin's public key named by a proof (step 3), refreshed when unknown or old."""
        if key_id in self._keys:
            return self._keys[key_id]
        row = self.session.get(RemoteKey, key_id)
        if row is None or utcnow() - row.fetched_at > KEY_TTL:
            error = self.refresh_keys(origin)
            row = self.session.get(RemoteKey, key_id)
            if row is None:
                if error:
                    raise _wait(f"the keys of {origin} cannot be fetched: {error}")
                raise _reject("signed with a key its origin does not publish")
        if row.status == "revoked":
            raise _reject("signed with a key its origin revoked")
        try:
            key = public_key_from_multibase(row.public_key).public_bytes_raw()
        except ValueError as exc:  # pragma: no cover - checked when stored
            raise _reject("its origin's key is malformed") from exc
        self._keys[key_id] = key
        return key

    def refresh_keys(self, origin: str, document: Mapping[str, Any] | None = None) -> str | None:
        """Store the keys `origin` publishes (from `document`, or fetched once per round);
        returns why they could not be had, or None."""
        if document is None:
            if origin in self._refreshed:
                return self._refreshed[origin]
            if len(self._refreshed) >= MAX_DISCOVERIES or (
                self.deadline is not None and time.monotonic() > self.deadline
            ):
                # A relaying peer may name many origins, each slow to answer: past a few per
                # round, or past the round's time, their objects wait for a later round.
                self._refreshed[origin] = "deferred to a later round"
                return self._refreshed[origin]
            try:
                document = self.discover(origin)
            except (FetchError, ValueError) as exc:  # no keys from there this round
                self._refreshed[origin] = str(exc)[:300] or type(exc).__name__
                return self._refreshed[origin]
        self._refreshed[origin] = None
        try:
            keys = self._published_keys(origin, document)
        except ValueError as exc:
            self._refreshed[origin] = str(exc)
            return self._refreshed[origin]
        now = utcnow()
        stored = {
            row.id: row
            for row in self.session.scalars(select(RemoteKey).where(RemoteKey.origin == origin))
        }
        for key_id, (public_key, status) in keys.items():
            row = stored.pop(key_id, None) or RemoteKey(id=key_id, origin=origin)
            row.public_key, row.status, row.fetched_at = public_key, status, now
            self.session.add(row)
            self._keys.pop(key_id, None)
        # A key its origin no longer lists is no longer vouched for.
        for row in stored.values():
            self._keys.pop(row.id, None)
            self.session.delete(row)
        self.session.flush()
        return None

    @staticmethod
    def _published_keys(origin: str, document: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        if not isinstance(document, Mapping) or document.get("origin") != origin:
            raise ValueError(f"the discovery document of {origin} names another origin")
        listed = document.get("public_keys")
        if not isinstance(listed, list):
            raise ValueError("the discovery document lists no public keys")
        keys: dict[str, tuple[str, str]] = {}
        prefix = f"{origin}{DISCOVERY_PATH}#"
        for entry in listed[:100]:
            if not isinstance(entry, Mapping):
                continue
            key_id, value, status = (
                entry.get("id"),
                entry.get("publicKeyMultibase"),
                entry.get("status"),
            )
            if not (isinstance(key_id, str) and key_id.startswith(prefix) and len(key_id) <= 500):
                continue
            if not key_id.isprintable():  # NUL or a lone surrogate: no database stores it
                continue
            if status not in KEY_STATUSES or not isinstance(value, str) or len(value) > 100:
                continue
            try:
                public_key_from_multibase(value)
            except ValueError:
                continue
            keys[key_id] = (value, str(status))
        return keys

    # -- quarantine --------------------------------------------------------------------------

    def _count_waiting(self) -> int:
        query = select(func.count(QuarantinedObject.id)).where(
            QuarantinedObject.peer_id == self.peer.id, QuarantinedObject.kind == WAITING
        )
        return self.session.scalar(query) or 0

    def _drop_old_refusals(self) -> None:
        """Keep the peer's newest REFUSED_KEPT refusals (rejected objects and conflicts)."""
        refused = (QuarantinedObject.peer_id == self.peer.id, QuarantinedObject.kind != WAITING)
        newest = (
            select(QuarantinedObject.id)
            .where(*refused)
            .order_by(QuarantinedObject.received_at.desc(), QuarantinedObject.id.desc())
            .limit(REFUSED_KEPT)
        )
        self.session.execute(
            delete(QuarantinedObject).where(*refused).where(QuarantinedObject.id.not_in(newest))
        )
        self._refused_added = False

    def _quarantine(self, item: Any, kind: str, reason: str) -> None:
        if kind == IGNORED:
            self.counts[kind] += 1
            return
        claimed: Mapping[str, Any] = item if isinstance(item, dict) else {}

        def text(name: str, size: int) -> str | None:
            value = claimed.get(name)
            return _storable(value[:size]) if isinstance(value, str) else None

        version = claimed.get("version")
        object_id = text("id", 300)
        raw: bytes | None = None
        try:
            raw = keepable(claimed)[0] if isinstance(item, dict) else None
        except Unkeepable as exc:
            if kind == WAITING:
                # Waiting (for a key, say) is pointless for what could not be offered again.
                kind, reason = REJECTED, str(exc)
        if kind == WAITING and self._waiting_here >= WAITING_KEPT:
            kind, reason = REJECTED, f"{WAITING_KEPT} objects of this peer are waiting already"
        self.counts[kind] += 1
        if kind == WAITING:
            self._waiting_here += 1
        else:
            self._refused_added = True
        if kind == WAITING and object_id:
            self._forget_waiting_text(object_id)
            self._note_waiting(object_id)
        self.session.add(
            QuarantinedObject(
                peer_id=self.peer.id,
                kind=kind,
                object_id=object_id,
                object_type=text("type", 40),
                object_origin=text("origin", 255),
                version=version if isinstance(version, int) and abs(version) < 2**62 else None,
                reason=_storable(reason[:1000]),
                envelope=raw,
            )
        )

    def _forget_waiting(self, object_id: uuid.UUID) -> None:
        for text_id in list(self._waiting.get(str(object_id), ())):
            self._forget_waiting_text(text_id)

    def _note_waiting(self, text_id: str) -> None:
        self._waiting.setdefault(text_id.rsplit("/", 1)[-1], set()).add(text_id)

    def _unnote_waiting(self, text_id: str) -> None:
        tail = text_id.rsplit("/", 1)[-1]
        self._waiting.get(tail, set()).discard(text_id)
        if not self._waiting.get(tail, True):
            del self._waiting[tail]

    def _forget_waiting_text(self, object_id: str) -> None:
        self.session.execute(
            delete(QuarantinedObject).where(
                QuarantinedObject.kind == WAITING, QuarantinedObject.object_id == object_id
            )
        )
        self._unnote_waiting(object_id)

    def retry_waiting(self) -> None:
        """Offer the objects that were waiting (for a dependency or a key) once more."""
        rows = self.session.scalars(
            select(QuarantinedObject)
            .where(QuarantinedObject.kind == WAITING, QuarantinedObject.peer_id == self.peer.id)
            .order_by(QuarantinedObject.received_at)
            .limit(WAITING_RETRY_LIMIT)
        ).all()
        if not rows:
            return
        items = []
        for row in rows:
            items.append(decode(row.envelope) if row.envelope else None)
            self.session.delete(row)
            if row.object_id:
                self._unnote_waiting(row.object_id)
        self.session.flush()
        retried = Counter(self.counts)
        self.apply_page([item for item in items if item is not None])
        # A retry that waits again is not news.
        self.counts[WAITING] = retried[WAITING]

    # -- resync ------------------------------------------------------------------------------

    def sweep(self, listed_since: dt.datetime) -> int:
        """After a full snapshot: drop what this peer brought and no longer lists (deleted
        while we could not see the tombstone, e.g. offline past its retention)."""
        stale = list(
            self.session.execute(
                select(FederationObject.id, FederationObject.type).where(
                    FederationObject.peer_id == self.peer.id,
                    FederationObject.origin != self.own_origin,
                    (FederationObject.listed_at.is_(None))
                    | (FederationObject.listed_at < listed_since),
                )
            ).all()
        )
        for owner in (Coalition, Campaign):
            self._bury_our_endorsements(
                owner, [object_id for object_id, name in stale if name == owner.__name__]
            )
        for object_id, type_name in stale:
            model = _FORMER_TYPES.get(type_name)
            if model is not None:
                # Asked of the database, not the session: a coalition swept before took its
                # campaigns and actions with it, even those the session still holds.
                row = self.session.scalar(select(model).where(model.id == object_id))
                if row is not None:
                    self.session.delete(row)
            self.session.execute(delete(FederationObject).where(FederationObject.id == object_id))
        self.session.flush()
        return len(stale)


_APPLY: dict[str, Callable[[Ingest, _Claim], None]] = {
    "Coalition": Ingest._coalition,
    "Campaign": Ingest._campaign,
    "Endorsement": Ingest._endorsement,
    "Event": Ingest._event,
    "Tombstone": Ingest._tombstone,
}
