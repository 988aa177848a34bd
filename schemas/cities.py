"""Cities: the coalitions of one city, and the city's feed."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.common import String
from schemas.links import SubscribeLinksMixin


class CitySchema(SubscribeLinksMixin, Schema):
    slug = String(dump_only=True)
    name = String(dump_only=True)
    coalitions = fields.List(String(), dump_only=True, metadata={"description": "Slugs."})


class CityListSchema(Schema):
    items = fields.List(fields.Nested(CitySchema), required=True)
    next_cursor = String(allow_none=True, required=True)
