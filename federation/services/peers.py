"""Peers: the instances this one pulls from (instance admins only)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from federation.addresses import Unresolvable, is_public_address, parse_address, resolve
from federation.envelope import origin_of
from federation.models import (
    NOT_TRUSTED_TO_RELAY,
    Campaign,
    Coalition,
    Endorsement,
    Event,
    FederationObject,
    Peer,
    QuarantinedObject,
    Tombstone,
    utcnow,
)
from federation.services.auth import Actor
from federation.services.campaigns import bury_endorsements_of
from federation.services.changes import note_feed_change
from federation.services.errors import Conflict, InvalidInput, NotFound
from federation.services.pagination import Page, datetime_key, paginate, uuid_key

_MODELS: tuple[type[Any], ...] = (Event, Endorsement, Campaign, Coalition, Tombstone)
DEFAULT_PORTS = {"http": 80, "https": 443}


def without_default_port(origin: str) -> str:
    """`origin` without its scheme's default port: https://x:443 and https://x are one peer."""
    parts = urlsplit(origin)
    if parts.port is not None and parts.port == DEFAULT_PORTS.get(parts.scheme):
        return origin.rsplit(":", 1)[0]
    return origin


def peer_origin(url: str, *, own_origin: str, allow_private: bool) -> str:
    """A peer's URL as stored: its origin, without a default port. InvalidInput unless it is
    exactly an origin, on the public internet (unless `allow_private`)."""
    try:
        origin = origin_of(url)
    except ValueError as exc:
        raise InvalidInput("Not a peer URL.", {"url": [str(exc)]}) from exc
    if url.rstrip("/").lower() != origin.lower():
        raise InvalidInput(
            "A peer is named by its origin.",
            {"url": ["Only an origin, scheme://host[:port]: no path, query or credentials."]},
        )
    origin = without_default_port(origin)
    if origin == without_default_port(own_origin):
        raise InvalidInput("That is this instance.", {"url": ["This instance's own origin."]})
    if not allow_private:
        if not origin.startswith("https://"):
            raise InvalidInput(
                "Peers are reached over https.",
                {
                    "url": [
                        "Must start with https:// (http only with FEDERATION_ALLOW_PRIVATE_PEERS)."
                    ]
                },
            )
        _require_public(origin)
    return origin


def _require_public(origin: str) -> None:
    """Refuse a peer on a loopback, private, link-local (or otherwise non-public) address, or
    a name that resolves to one: the sync worker would refuse to connect to it anyway.

    A name that does not resolve is accepted: DNS may be failing for a moment, or the peer's
    name not published yet, and nothing is reached through it. The worker checks the address
    of every connection it makes, so this check is for a clear answer now, not the guard.
    """
    parts = urlsplit(origin)
    host = parts.hostname or ""
    try:
        addresses = resolve(host, parts.port or DEFAULT_PORTS[parts.scheme])
    except Unresolvable:
        return
    for address in addresses:
        if address is None or not is_public_address(address):
            what = host if parse_address(host.strip("[]")) else f"{host} resolves to {address}: it"
            raise InvalidInput(
                "Peers live on the public internet.",
                {
                    "url": [
                        f"{what} is a loopback, private, link-local or otherwise non-public "
                        "address (allowed only with FEDERATION_ALLOW_PRIVATE_PEERS)."
                    ]
                },
            )


def add_peer(
    session: Session, actor: Actor, data: Mapping[str, Any], *, own_origin: str, allow_private: bool
) -> Peer:
    """Start pulling from another instance; the first round reads its snapshot.

    A removed peer's URL revives its record (same id), with the objects it had brought: the
    first round's snapshot then removes those it no longer lists.
    """
    actor.require_instance_admin()
    origin = peer_origin(data["url"], own_origin=own_origin, allow_private=allow_private)
    peer = session.scalar(select(Peer).where(Peer.url == origin))
    if peer is not None and peer.removed_at is None:
        raise Conflict("This peer is already configured.", {"url": ["Already a peer."]})
    if peer is None:
        peer = Peer(url=origin)
        session.add(peer)
    else:
        _forget_reading(peer)
        peer.name = None  # read again from its discovery document, with its keys
        peer.last_attempt_at = peer.last_success_at = peer.caught_up_at = None
        peer.last_error = peer.last_error_at = None
        peer.removed_at = None
        peer.updated_at = utcnow()
    peer.relay = data.get("relay", False)
    peer.enabled = data.get("enabled", True)
    session.flush()
    return peer


def list_peers(session: Session, actor: Actor) -> list[Peer]:
    """Every peer, removed ones (whose objects are still here) included."""
    actor.require_instance_admin()
    return list(session.scalars(select(Peer).order_by(Peer.created_at, Peer.id)))


def get_peer(session: Session, actor: Actor, peer_id: uuid.UUID) -> Peer:
    actor.require_instance_admin()
    peer = session.get(Peer, peer_id)
    if peer is None:
        raise NotFound("No such peer.")
    return peer


def get_active_peer(session: Session, actor: Actor, peer_id: uuid.UUID) -> Peer:
    """A peer that is not removed (Conflict if it is)."""
    peer = get_peer(session, actor, peer_id)
    _require_active(peer)
    return peer


def _require_active(peer: Peer) -> None:
    if peer.removed_at is not None:
        raise Conflict("This peer was removed; add its URL again to pull from it.")


def update_peer(session: Session, actor: Actor, peer: Peer, changes: Mapping[str, Any]) -> Peer:
    """Turn relaying or the peer itself on or off.

    Turning relaying on offers what the peer was refused for relaying other origins (and kept)
    again, at its next round.
    """
    actor.require_instance_admin()
    _require_active(peer)
    if changes.get("relay") and not peer.relay:
        _retry_relayed(session, peer)
        peer.next_attempt_at = None
    for name in ("relay", "enabled"):
        if name in changes:
            setattr(peer, name, changes[name])
    if changes.get("enabled"):
        # Re-enabled by hand: poll at the next round, whatever the backoff said.
        peer.next_attempt_at = None
    peer.updated_at = utcnow()
    session.flush()
    return peer


def _retry_relayed(session: Session, peer: Peer) -> None:
    # Waiting objects are offered again at the end of every round. A refusal without its
    # envelope (not canonical JSON, or over 64 KiB) stays: it would be refused for that anyway.
    session.execute(
        update(QuarantinedObject)
        .where(
            QuarantinedObject.peer_id == peer.id,
            QuarantinedObject.kind == "rejected",
            QuarantinedObject.envelope.is_not(None),
            QuarantinedObject.reason.endswith(NOT_TRUSTED_TO_RELAY, autoescape=True),
        )
        .values(kind="waiting", reason="offered again: the peer is now trusted to relay")
    )


def list_quarantine(
    session: Session, actor: Actor, peer: Peer, *, cursor: str | None, limit: int
) -> Page[QuarantinedObject]:
    """What the peer offered that was refused or is waiting, oldest first."""
    actor.require_instance_admin()
    query = select(QuarantinedObject).where(QuarantinedObject.peer_id == peer.id)
    keys = [datetime_key(QuarantinedObject.received_at), uuid_key(QuarantinedObject.id)]
    return paginate(session, query, keys, cursor=cursor, limit=limit)


def remove_peer(session: Session, actor: Actor, peer: Peer, *, purge: bool) -> int:
    """Stop pulling from a peer; with `purge`, also remove the objects it brought here.

    Returns how many objects were purged. Objects of its origin that another peer relayed
    stay: that peer vouches for them too. Without `purge`, a peer that brought objects is
    kept as removed, so that they can be purged later (this works on a removed peer too).
    """
    actor.require_instance_admin()
    purged = _purge(session, peer) if purge else 0
    brought = session.scalar(select(exists().where(FederationObject.peer_id == peer.id)))
    if brought:
        _forget_reading(peer)
        peer.enabled = False
        peer.removed_at = peer.removed_at or utcnow()
        peer.updated_at = utcnow()
        # Refusals and waiting objects are about reading it, which has stopped.
        session.execute(delete(QuarantinedObject).where(QuarantinedObject.peer_id == peer.id))
    else:
        session.delete(peer)
    session.flush()
    return purged


def _forget_reading(peer: Peer) -> None:
    """Where reading the peer stood: a peer read again starts from its snapshot."""
    peer.cursor = peer.snapshot_page = peer.snapshot_started_at = peer.etag = None
    peer.failures = 0
    peer.next_attempt_at = None


def _purge(session: Session, peer: Peer) -> int:
    brought = select(FederationObject.id).where(FederationObject.peer_id == peer.id)
    ids = list(session.scalars(brought))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        bury_endorsements_of(session, campaigns=chunk, coalitions=chunk)
        # Dependents first; the database cascades the rest (tags, endorsements...).
        for model in _MODELS:
            session.execute(delete(model).where(model.id.in_(chunk)))
        session.execute(delete(FederationObject).where(FederationObject.id.in_(chunk)))
    if ids:
        # Bulk deletes skip the session's flush hooks: tell the feed caches ourselves.
        note_feed_change(session)
    return len(ids)
