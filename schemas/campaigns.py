"""Campaigns (days of action) and endorsements."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.common import (
    PageArgsSchema,
    PartialMixin,
    ResourceSchema,
    String,
    page_of,
    text,
)
from schemas.links import SubscribeLinksMixin
from schemas.vocabulary import ENDORSEMENT_LEVELS


class EndorsementSchema(ResourceSchema):
    organization = text(200, required=True, min_length=1)
    coalition = String(
        attribute="coalition_slug",
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "Slug of the coalition the organization belongs to, if any."},
    )
    level = String(required=True, validate=validate.OneOf(ENDORSEMENT_LEVELS))


class CampaignSchema(SubscribeLinksMixin, ResourceSchema):
    title = text(300, required=True, min_length=1)
    description = text(20000, multiline=True)
    call_to_action = text(5000, multiline=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    coalition = String(
        attribute="coalition_slug",
        required=True,
        validate=validate.Length(max=64),
        metadata={"description": "Slug of the originating coalition."},
    )
    endorsements = fields.List(fields.Nested(EndorsementSchema), dump_only=True)


class CampaignPatchSchema(PartialMixin, CampaignSchema):
    class Meta:
        exclude = ("coalition",)


class CampaignQueryArgsSchema(PageArgsSchema):
    coalition = String(validate=validate.Length(max=64))
    city = String(validate=validate.Length(max=64))
    q = String(validate=validate.Length(min=1, max=200))


CampaignPageSchema = page_of(CampaignSchema, "CampaignPageSchema")
EndorsementPageSchema = page_of(EndorsementSchema, "EndorsementPageSchema")
