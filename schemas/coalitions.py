"""Coalitions and their member organizations."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import (
    SLUG,
    PageArgsSchema,
    PartialMixin,
    ResourceSchema,
    String,
    Timezone,
    page_of,
    text,
    url,
)
from schemas.links import SubscribeLinksMixin
from schemas.vocabulary import ORGANIZATION_KINDS


class MemberOrganizationSchema(Schema):
    name = text(200, required=True, min_length=1)
    kind = String(required=True, validate=validate.OneOf(ORGANIZATION_KINDS))


class CoalitionSchema(SubscribeLinksMixin, ResourceSchema):
    slug = String(required=True, validate=[validate.Length(min=2, max=64), SLUG])
    name = text(200, required=True, min_length=1)
    city = text(100, required=True, min_length=1)
    city_slug = String(required=True, validate=[validate.Length(min=2, max=64), SLUG])
    timezone = Timezone(required=True)
    description = text(20000, multiline=True)
    website = url()
    member_organizations = fields.List(
        fields.Nested(MemberOrganizationSchema), validate=validate.Length(max=200)
    )


class CoalitionPatchSchema(PartialMixin, CoalitionSchema):
    class Meta:
        # The slug is the coalition's address in every URL and feed link: it does not change.
        exclude = ("slug",)


class CoalitionQueryArgsSchema(PageArgsSchema):
    city = String(validate=validate.Length(max=64))
    q = String(validate=validate.Length(min=1, max=200))


CoalitionPageSchema = page_of(CoalitionSchema, "CoalitionPageSchema")
