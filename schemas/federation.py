"""Query arguments of the federation pull protocol (docs/federation.md)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.common import String

PAGE_DEFAULT = 100
PAGE_MAX = 500


class _ProtocolArgsSchema(Schema):
    class Meta:
        # Readers of a later protocol revision may send arguments we do not know yet.
        unknown = EXCLUDE

    limit = fields.Integer(load_default=PAGE_DEFAULT, validate=validate.Range(min=1, max=PAGE_MAX))


class ChangesArgsSchema(_ProtocolArgsSchema):
    after = String(validate=validate.Length(min=1, max=200))


class SnapshotArgsSchema(_ProtocolArgsSchema):
    page = String(validate=validate.Length(min=1, max=200))
