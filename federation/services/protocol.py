"""The federation log's reading side as peers see it: discovery, changes, snapshot, objects,
and the operator's levers (new epoch, tombstone purge). Cursors are opaque to peers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation.envelope import DISCOVERY_PATH, OBJECT_MAX_BYTES
from federation.models import FederationObject, InstanceState, Tombstone
from federation.services.errors import Gone, InvalidInput, NotFound
from federation.services.outbox import head, lock_log
from schemas.federation import PAGE_DEFAULT, PAGE_MAX

PROTOCOL_VERSIONS = ("1",)

EPOCH_CHANGED = "epoch_changed"
CURSOR_EXPIRED = "cursor_expired"


class CursorGone(Gone):
    """The reader's position cannot be continued from; it must resync from a snapshot."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ObjectGone(Gone):
    """The object was deleted; `envelope` is its signed tombstone."""

    def __init__(self, envelope: bytes) -> None:
        super().__init__("This object was deleted.")
        self.envelope = envelope


@dataclass(frozen=True)
class Cursor:
    epoch: str
    position: int

    def encode(self) -> str:
        return _b64(f"{self.epoch}.{self.position}")


@dataclass(frozen=True)
class ChangesPage:
    items: list[bytes]
    next: str
    up_to_date: bool
    # The cursor of the newest change: the feed's entity tag.
    head: str
    # The reader already holds this state (its If-None-Match named the head): nothing to send.
    not_modified: bool = False


@dataclass(frozen=True)
class SnapshotPage:
    items: list[bytes]
    next_page: str | None
    # On the last page only: the changes cursor to continue from.
    cursor: str | None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("ascii")).rstrip(b"=").decode("ascii")


def _unb64(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return raw.decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def _decode(token: str, parts: int, field: str) -> tuple[str, list[int]]:
    try:
        epoch, *numbers = _unb64(token).split(".")
        if len(numbers) != parts - 1 or not epoch:
            raise ValueError("wrong number of parts")
        if not all(number.isascii() and number.isdigit() for number in numbers):
            raise ValueError("not a position")
        values = [int(number) for number in numbers]
    except ValueError as exc:
        raise InvalidInput(
            "The cursor is not one this feed handed out.",
            {field: ["Not a valid cursor."]},
            location="query",
        ) from exc
    return epoch, values


def _state(session: Session) -> InstanceState:
    state = session.get(InstanceState, 1)
    if state is None:
        raise RuntimeError("instance_state has no row: run `flask --app wsgi db upgrade`")
    return state


def _check_epoch(state: InstanceState, epoch: str) -> None:
    if epoch != state.epoch:
        raise CursorGone(
            "This cursor is from another epoch of this instance's log (it was restored from a "
            "backup): resync from /federation/v1/snapshot.",
            EPOCH_CHANGED,
        )


def _check_horizon(state: InstanceState, position: int) -> None:
    if position < state.horizon:
        raise CursorGone(
            "Tombstones newer than this cursor were purged: resync from /federation/v1/snapshot.",
            CURSOR_EXPIRED,
        )


def current_cursor(session: Session) -> str:
    """The cursor of the newest change (the entity tag of the changes feed)."""
    return Cursor(_state(session).epoch, head(session)).encode()


def changes(
    session: Session, *, after: str | None, limit: int, known_heads: Collection[str] = ()
) -> ChangesPage:
    """The objects changed after `after` (all of them if None), oldest change first.

    Each object appears once, in its current version, at the position of its last change.
    `known_heads`: entity tags the reader holds; when one is the current head, nothing is
    loaded and the page says `not_modified`.
    """
    state = _state(session)
    newest = head(session)
    position = 0
    if after is not None:
        epoch, (position,) = _decode(after, 2, "after")
        _check_epoch(state, epoch)
        if position > newest:
            # Only a restore without `federation new-epoch` lets a reader get ahead of us.
            raise CursorGone(
                "This cursor is ahead of this instance's log (was it restored from a backup?): "
                "resync from /federation/v1/snapshot.",
                EPOCH_CHANGED,
            )
        _check_horizon(state, position)
    head_cursor = Cursor(state.epoch, newest).encode()
    if head_cursor in known_heads:
        return ChangesPage([], head_cursor, True, head_cursor, not_modified=True)
    rows = session.execute(
        select(FederationObject.position, FederationObject.envelope)
        .where(FederationObject.position > position)
        .order_by(FederationObject.position)
        .limit(limit)
    ).all()
    last = rows[-1].position if rows else newest
    return ChangesPage(
        items=[row.envelope for row in rows],
        next=Cursor(state.epoch, last).encode(),
        up_to_date=last >= newest,
        head=head_cursor,
    )


def snapshot(session: Session, *, page: str | None, limit: int) -> SnapshotPage:
    """Every live object and unexpired tombstone, in position order, as of the first page.

    Changes made while a reader pages through move objects past the pinned position; the
    changes feed, continued from the cursor on the last page, delivers them.
    """
    state = _state(session)
    if page is None:
        pinned, after = head(session), 0
    else:
        epoch, (pinned, after) = _decode(page, 3, "page")
        _check_epoch(state, epoch)
        if after > pinned or pinned > head(session):
            raise InvalidInput(
                "The page token is not one this feed handed out.",
                {"page": ["Not a valid page token."]},
                location="query",
            )
        _check_horizon(state, pinned)
    rows = session.execute(
        select(FederationObject.position, FederationObject.envelope)
        .where(FederationObject.position > after, FederationObject.position <= pinned)
        .order_by(FederationObject.position)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit:
        rows = rows[:limit]
        token = _b64(f"{state.epoch}.{pinned}.{rows[-1].position}")
        return SnapshotPage([row.envelope for row in rows], token, None)
    cursor = Cursor(state.epoch, pinned).encode()
    return SnapshotPage([row.envelope for row in rows], None, cursor)


def get_object(session: Session, object_id: uuid.UUID, *, origin: str) -> bytes:
    """One of this instance's own objects; ObjectGone with its tombstone if deleted.

    Objects relayed from other origins are not served here: their origin is the authority.
    """
    row = session.get(FederationObject, object_id)
    if row is None or row.origin != origin:
        raise NotFound("No such object of this origin.")
    if row.type == "Tombstone":
        raise ObjectGone(row.envelope)
    return row.envelope


def new_epoch(session: Session) -> str:
    """Start a new epoch: every reader's cursor is refused (410) and it resyncs.

    Run after restoring a backup: positions handed out after the backup was taken are about
    to be handed out again, for other changes.
    """
    lock_log(session)
    state = _state(session)
    epoch = secrets.token_hex(8)
    while epoch == state.epoch:  # pragma: no cover - 64 random bits
        epoch = secrets.token_hex(8)
    state.epoch = epoch
    session.flush()
    return epoch


@dataclass(frozen=True)
class Purge:
    purged: int
    horizon: int


def purge_tombstones(session: Session, *, older_than: dt.datetime, origin: str) -> Purge:
    """Forget tombstones logged before `older_than`; cursors before the newest one expire.

    This instance's own tombstone rows (`origin`) go too, or they would be logged again;
    tombstones of other origins stay in `tombstones`, where the reading side keeps them to
    refuse resurrections.
    """
    lock_log(session)
    state = _state(session)
    rows = session.execute(
        select(FederationObject.id, FederationObject.position).where(
            FederationObject.type == "Tombstone", FederationObject.changed_at < older_than
        )
    ).all()
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(
            delete(Tombstone).where(Tombstone.id.in_(chunk), Tombstone.origin == origin)
        )
        session.execute(delete(FederationObject).where(FederationObject.id.in_(chunk)))
    if rows:
        state.horizon = max(state.horizon, max(row.position for row in rows))
    session.flush()
    return Purge(purged=len(rows), horizon=state.horizon)


def discovery_document(
    *,
    origin: str,
    name: str,
    public_keys: list[dict[str, Any]],
    tombstone_retention_days: int,
) -> dict[str, Any]:
    """What a peer needs to know before pulling: who we are, where, with which keys, limits."""
    return {
        "origin": origin,
        "name": name,
        "protocol_versions": list(PROTOCOL_VERSIONS),
        "endpoints": {
            "discovery": f"{origin}{DISCOVERY_PATH}",
            "changes": f"{origin}/federation/v1/changes",
            "snapshot": f"{origin}/federation/v1/snapshot",
            "objects": f"{origin}/federation/v1/objects/",
        },
        "public_keys": public_keys,
        "limits": {
            "page_default": PAGE_DEFAULT,
            "page_max": PAGE_MAX,
            "object_max_bytes": OBJECT_MAX_BYTES,
        },
        "tombstone_retention_days": tombstone_retention_days,
    }
