"""Campaigns (days of action) and their endorsements."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from federation.api.auth import authenticated
from federation.api.parsing import Blueprint
from federation.db import get_session
from federation.models import Campaign, Endorsement
from federation.services import campaigns as service
from federation.services.auth import Actor
from federation.services.pagination import Page
from schemas.campaigns import (
    CampaignPageSchema,
    CampaignPatchSchema,
    CampaignQueryArgsSchema,
    CampaignSchema,
    EndorsementPageSchema,
    EndorsementSchema,
)
from schemas.common import PageArgsSchema

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1/campaigns", description="Days of action")


def origin() -> str:
    return str(current_app.config["FEDERATION_BASE_URL"])


@blp.route("")
class CampaignCollection(MethodView):
    @blp.arguments(CampaignQueryArgsSchema, location="query")
    @blp.response(200, CampaignPageSchema)
    def get(self, args: dict[str, Any]) -> Page[Campaign]:
        """List campaigns, in order of start date"""
        return service.list_campaigns(
            get_session(),
            coalition=args.get("coalition"),
            city=args.get("city"),
            q=args.get("q"),
            cursor=args.get("cursor"),
            limit=args["limit"],
        )

    @authenticated(blp)
    @blp.arguments(CampaignSchema)
    @blp.response(201, CampaignSchema)
    def post(self, data: dict[str, Any], actor: Actor) -> Campaign:
        """Start a campaign (a call for a day of action)"""
        session = get_session()
        campaign = service.create_campaign(session, actor, data, origin=origin())
        session.commit()
        return campaign


@blp.route("/<uuid:campaign_id>")
class CampaignItem(MethodView):
    @blp.response(200, CampaignSchema)
    def get(self, campaign_id: uuid.UUID) -> Campaign:
        """Get a campaign with its endorsements

        Its parallel actions are listed by GET /api/v1/events?campaign=<id>.
        """
        return service.get_campaign(get_session(), campaign_id)

    @authenticated(blp)
    @blp.arguments(CampaignPatchSchema)
    @blp.response(200, CampaignSchema)
    def patch(self, changes: dict[str, Any], campaign_id: uuid.UUID, actor: Actor) -> Campaign:
        """Edit a campaign"""
        session = get_session()
        campaign = service.update_campaign(
            session, actor, service.get_campaign(session, campaign_id), changes
        )
        session.commit()
        return campaign

    @authenticated(blp)
    @blp.response(204)
    def delete(self, campaign_id: uuid.UUID, actor: Actor) -> None:
        """Delete a campaign and its endorsements; actions that joined it leave it"""
        session = get_session()
        service.delete_campaign(session, actor, service.get_campaign(session, campaign_id))
        session.commit()


@blp.route("/<uuid:campaign_id>/endorsements")
class EndorsementCollection(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, EndorsementPageSchema)
    def get(self, args: dict[str, Any], campaign_id: uuid.UUID) -> Page[Endorsement]:
        """List a campaign's endorsements"""
        session = get_session()
        return service.list_endorsements(
            session,
            service.get_campaign(session, campaign_id),
            cursor=args.get("cursor"),
            limit=args["limit"],
        )

    @authenticated(blp)
    @blp.arguments(EndorsementSchema)
    @blp.response(201, EndorsementSchema)
    def post(self, data: dict[str, Any], campaign_id: uuid.UUID, actor: Actor) -> Endorsement:
        """Record an organization's endorsement"""
        session = get_session()
        campaign = service.get_campaign(session, campaign_id)
        endorsement = service.add_endorsement(session, actor, campaign, data, origin=origin())
        session.commit()
        return endorsement


@blp.route("/<uuid:campaign_id>/endorsements/<uuid:endorsement_id>")
class EndorsementItem(MethodView):
    @authenticated(blp)
    @blp.response(204)
    def delete(self, campaign_id: uuid.UUID, endorsement_id: uuid.UUID, actor: Actor) -> None:
        """Withdraw an endorsement"""
        session = get_session()
        campaign = service.get_campaign(session, campaign_id)
        service.withdraw_endorsement(session, actor, campaign, endorsement_id)
        session.commit()
