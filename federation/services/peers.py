"""Peers: the instances this one pulls from (instance admins only)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation.envelope import origin_of
from federation.models import (
    Campaign,
    Coalition,
    Endorsement,
    Event,
    FederationObject,
    Peer,
    Tombstone,
    utcnow,
)
from federation.services.auth import Actor
from federation.services.campaigns import bury_endorsements_of
from federation.services.changes import note_feed_change
from federation.services.errors import Conflict, InvalidInput, NotFound

_MODELS: tuple[type[Any], ...] = (Event, Endorsement, Campaign, Coalition, Tombstone)


def peer_origin(url: str, *, own_origin: str, allow_private: bool) -> str:
    """A peer's URL as stored: its origin. InvalidInput unless it is exactly an origin."""
    try:
        origin = origin_of(url)
    except ValueError as exc:
        raise InvalidInput("Not a peer URL.", {"url": [str(exc)]}) from exc
    if url.rstrip("/").lower() != origin.lower():
        raise InvalidInput(
            "A peer is named by its origin.",
            {"url": ["Only an origin, scheme://host[:port]: no path, query or credentials."]},
        )
    if origin == own_origin:
        raise InvalidInput("That is this instance.", {"url": ["This instance's own origin."]})
    if not origin.startswith("https://") and not allow_private:
        raise InvalidInput(
            "Peers are reached over https.",
            {"url": ["Must start with https:// (http only with FEDERATION_ALLOW_PRIVATE_PEERS)."]},
        )
    return origin


def add_peer(
    session: Session, actor: Actor, data: Mapping[str, Any], *, own_origin: str, allow_private: bool
) -> Peer:
    """Start pulling from another instance; the first round reads its snapshot."""
    actor.require_instance_admin()
    origin = peer_origin(data["url"], own_origin=own_origin, allow_private=allow_private)
    if session.scalar(select(Peer.id).where(Peer.url == origin)) is not None:
        raise Conflict("This peer is already configured.", {"url": ["Already a peer."]})
    peer = Peer(url=origin, relay=data.get("relay", False), enabled=data.get("enabled", True))
    session.add(peer)
    session.flush()
    return peer


def list_peers(session: Session, actor: Actor) -> list[Peer]:
    actor.require_instance_admin()
    return list(session.scalars(select(Peer).order_by(Peer.created_at, Peer.id)))


def get_peer(session: Session, actor: Actor, peer_id: uuid.UUID) -> Peer:
    actor.require_instance_admin()
    peer = session.get(Peer, peer_id)
    if peer is None:
        raise NotFound("No such peer.")
    return peer


def update_peer(session: Session, actor: Actor, peer: Peer, changes: Mapping[str, Any]) -> Peer:
    """Turn relaying or the peer itself on or off."""
    actor.require_instance_admin()
    for name in ("relay", "enabled"):
        if name in changes:
            setattr(peer, name, changes[name])
    if changes.get("enabled"):
        # Re-enabled by hand: poll at the next round, whatever the backoff said.
        peer.next_attempt_at = None
    peer.updated_at = utcnow()
    session.flush()
    return peer


def remove_peer(session: Session, actor: Actor, peer: Peer, *, purge: bool) -> int:
    """Stop pulling from a peer; with `purge`, also remove the objects it brought here.

    Returns how many objects were purged. Objects of its origin that another peer relayed
    stay: that peer vouches for them too.
    """
    actor.require_instance_admin()
    purged = 0
    if purge:
        brought = select(FederationObject.id).where(FederationObject.peer_id == peer.id)
        ids = list(session.scalars(brought))
        purged = len(ids)
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
    session.delete(peer)
    session.flush()
    return purged
