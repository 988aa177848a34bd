"""API tokens: minting (shown once) and listing (never shown again)."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.common import AwareDateTime, String, text


class TokenRequestSchema(Schema):
    label = text(100)


class TokenSchema(Schema):
    id = fields.UUID(dump_only=True)
    coalition = String(attribute="coalition_slug", dump_only=True, allow_none=True)
    label = String(dump_only=True)
    created_at = AwareDateTime(dump_only=True)
    revoked_at = AwareDateTime(dump_only=True, allow_none=True)


class MintedTokenSchema(TokenSchema):
    token = String(dump_only=True, metadata={"description": "Shown once; store it now."})


class TokenListSchema(Schema):
    items = fields.List(fields.Nested(TokenSchema), required=True)
    next_cursor = String(allow_none=True, required=True)


class HealthSchema(Schema):
    status = String(required=True)
