"""Peers: the instances this one pulls from, their reading state, and a sync round on demand."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from federation.api.auth import authenticated
from federation.api.parsing import Blueprint
from federation.db import get_database, get_session
from federation.models import Peer, QuarantinedObject
from federation.services import peers as service
from federation.services.auth import Actor
from federation.services.pagination import Page
from federation.sync import settings_from_config
from federation.sync.worker import RoundSummary, sync_peer
from schemas.common import PageArgsSchema
from schemas.peers import (
    PeerDeleteArgsSchema,
    PeerListSchema,
    PeerPatchSchema,
    PeerSchema,
    QuarantinePageSchema,
    SyncSummarySchema,
)

blp = Blueprint(
    "peers", __name__, url_prefix="/api/v1/peers", description="Federation peers (instance admin)"
)


@blp.route("")
class PeerCollection(MethodView):
    @authenticated(blp)
    @blp.response(200, PeerListSchema)
    def get(self, actor: Actor) -> dict[str, Any]:
        """List peers with their reading state"""
        return {"items": service.list_peers(get_session(), actor), "next_cursor": None}

    @authenticated(blp)
    @blp.arguments(PeerSchema)
    @blp.response(201, PeerSchema)
    @blp.alt_response(409, description="Already a peer")
    def post(self, data: dict[str, Any], actor: Actor) -> Peer:
        """Add a peer by its origin URL; the sync worker starts pulling from it

        The URL of a removed peer revives its record.
        """
        session = get_session()
        config = current_app.config
        peer = service.add_peer(
            session,
            actor,
            data,
            own_origin=config["FEDERATION_BASE_URL"],
            allow_private=config["FEDERATION_ALLOW_PRIVATE_PEERS"],
        )
        session.commit()
        return peer


@blp.route("/<uuid:peer_id>")
class PeerItem(MethodView):
    @authenticated(blp)
    @blp.response(200, PeerSchema)
    def get(self, peer_id: uuid.UUID, actor: Actor) -> Peer:
        """Get a peer and its reading state"""
        return service.get_peer(get_session(), actor, peer_id)

    @authenticated(blp)
    @blp.arguments(PeerPatchSchema)
    @blp.response(200, PeerSchema)
    @blp.alt_response(409, description="The peer was removed")
    def patch(self, changes: dict[str, Any], peer_id: uuid.UUID, actor: Actor) -> Peer:
        """Turn relaying or the peer on or off

        Turning relay on offers what the peer was refused for relaying again, at its next round.
        """
        session = get_session()
        peer = service.update_peer(
            session, actor, service.get_peer(session, actor, peer_id), changes
        )
        session.commit()
        return peer

    @authenticated(blp)
    @blp.arguments(PeerDeleteArgsSchema, location="query")
    @blp.response(204)
    def delete(self, args: dict[str, Any], peer_id: uuid.UUID, actor: Actor) -> None:
        """Remove a peer; with purge=true also the objects it brought

        Without purge, a peer that brought objects stays listed as removed, and can be purged
        later.
        """
        session = get_session()
        peer = service.get_peer(session, actor, peer_id)
        service.remove_peer(session, actor, peer, purge=args["purge"])
        session.commit()


@blp.route("/<uuid:peer_id>/quarantine")
class PeerQuarantine(MethodView):
    @authenticated(blp)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, QuarantinePageSchema)
    def get(
        self, args: dict[str, Any], peer_id: uuid.UUID, actor: Actor
    ) -> Page[QuarantinedObject]:
        """List what this peer offered that was refused or waits, with the reasons"""
        session = get_session()
        return service.list_quarantine(
            session,
            actor,
            service.get_peer(session, actor, peer_id),
            cursor=args.get("cursor"),
            limit=args["limit"],
        )


@blp.route("/<uuid:peer_id>/sync")
class PeerSync(MethodView):
    @authenticated(blp)
    @blp.response(200, SyncSummarySchema)
    @blp.alt_response(409, description="The peer was removed")
    def post(self, peer_id: uuid.UUID, actor: Actor) -> RoundSummary:
        """Run one sync round with this peer now and return its summary"""
        session = get_session()
        service.get_active_peer(session, actor, peer_id)
        # The round commits page by page in sessions of its own; end this one's read first.
        session.rollback()
        return sync_peer(
            get_database().sessionmaker, peer_id, settings_from_config(current_app.config)
        )
