"""Coalitions, the actions they publish, and their admins' tokens."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from federation.api.auth import authenticated
from federation.api.parsing import Blueprint
from federation.db import get_session
from federation.models import ApiToken, Coalition, Event
from federation.services import auth as auth_service
from federation.services import coalitions as service
from federation.services import events as event_service
from federation.services.pagination import Page
from schemas.coalitions import (
    CoalitionPageSchema,
    CoalitionPatchSchema,
    CoalitionQueryArgsSchema,
    CoalitionSchema,
)
from schemas.events import EventSchema
from schemas.tokens import MintedTokenSchema, TokenListSchema, TokenRequestSchema, TokenSchema

blp = Blueprint("coalitions", __name__, url_prefix="/api/v1/coalitions", description="Coalitions")


def origin() -> str:
    return str(current_app.config["FEDERATION_BASE_URL"])


@blp.route("")
class CoalitionCollection(MethodView):
    @blp.arguments(CoalitionQueryArgsSchema, location="query")
    @blp.response(200, CoalitionPageSchema)
    def get(self, args: dict[str, Any]) -> Page[Coalition]:
        """List coalitions"""
        return service.list_coalitions(
            get_session(),
            city=args.get("city"),
            q=args.get("q"),
            cursor=args.get("cursor"),
            limit=args["limit"],
        )

    @authenticated(blp)
    @blp.arguments(CoalitionSchema)
    @blp.response(201, CoalitionSchema)
    @blp.alt_response(409, description="The slug is taken")
    def post(self, data: dict[str, Any], actor: auth_service.Actor) -> Coalition:
        """Create a coalition (instance admin)"""
        session = get_session()
        coalition = service.create_coalition(session, actor, data, origin=origin())
        session.commit()
        return coalition


@blp.route("/<slug:slug>")
class CoalitionItem(MethodView):
    @blp.response(200, CoalitionSchema)
    def get(self, slug: str) -> Coalition:
        """Get a coalition"""
        return service.get_coalition(get_session(), slug)

    @authenticated(blp)
    @blp.arguments(CoalitionPatchSchema)
    @blp.response(200, CoalitionSchema)
    def patch(self, changes: dict[str, Any], slug: str, actor: auth_service.Actor) -> Coalition:
        """Edit a coalition"""
        session = get_session()
        coalition = service.update_coalition(
            session, actor, service.get_coalition(session, slug), changes
        )
        session.commit()
        return coalition

    @authenticated(blp)
    @blp.response(204)
    def delete(self, slug: str, actor: auth_service.Actor) -> None:
        """Delete a coalition with its actions and campaigns (instance admin)"""
        session = get_session()
        service.delete_coalition(session, actor, service.get_coalition(session, slug))
        session.commit()


@blp.route("/<slug:slug>/events")
class CoalitionEvents(MethodView):
    @authenticated(blp)
    @blp.arguments(EventSchema)
    @blp.response(201, EventSchema)
    def post(self, data: dict[str, Any], slug: str, actor: auth_service.Actor) -> Event:
        """Publish an action of this coalition"""
        session = get_session()
        coalition = service.get_coalition(session, slug)
        event = event_service.publish_event(session, actor, coalition, data, origin=origin())
        session.commit()
        return event


@blp.route("/<slug:slug>/tokens")
class CoalitionTokens(MethodView):
    @authenticated(blp)
    @blp.response(200, TokenListSchema)
    def get(self, slug: str, actor: auth_service.Actor) -> dict[str, Any]:
        """List this coalition's admin tokens (never the tokens themselves)"""
        session = get_session()
        tokens = auth_service.list_tokens(session, actor, service.get_coalition(session, slug))
        return {"items": tokens, "next_cursor": None}

    @authenticated(blp)
    @blp.arguments(TokenRequestSchema)
    @blp.response(201, MintedTokenSchema)
    def post(
        self, data: dict[str, Any], slug: str, actor: auth_service.Actor
    ) -> auth_service.MintedToken:
        """Mint a coalition-admin token; it is shown only in this response"""
        session = get_session()
        coalition = service.get_coalition(session, slug)
        minted = auth_service.mint_coalition_token(
            session, actor, coalition, label=data.get("label", "")
        )
        session.commit()
        return minted


@blp.route("/<slug:slug>/tokens/<uuid:token_id>")
class CoalitionTokenItem(MethodView):
    @authenticated(blp)
    @blp.response(200, TokenSchema)
    def delete(self, slug: str, token_id: uuid.UUID, actor: auth_service.Actor) -> ApiToken:
        """Revoke a coalition-admin token"""
        session = get_session()
        coalition = service.get_coalition(session, slug)
        token = auth_service.revoke_token(session, actor, token_id, coalition=coalition)
        session.commit()
        return token
