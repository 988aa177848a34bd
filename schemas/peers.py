"""Peers (the instances this one pulls from), their reading state, and sync round summaries."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.common import AwareDateTime, PartialMixin, String, page_of


class PeerStatusSchema(Schema):
    cursor = String(allow_none=True, metadata={"description": "Position in the peer's feed."})
    resyncing = fields.Boolean(metadata={"description": "Reading a snapshot (first sync, 410)."})
    lag_seconds = fields.Float(
        allow_none=True, metadata={"description": "Seconds since we last held all it published."}
    )
    last_attempt_at = AwareDateTime(allow_none=True)
    last_success_at = AwareDateTime(allow_none=True)
    last_error = String(allow_none=True)
    last_error_at = AwareDateTime(allow_none=True)
    failures = fields.Integer(metadata={"description": "Consecutive failed rounds."})
    next_attempt_at = AwareDateTime(
        allow_none=True, metadata={"description": "The sync loop backs off until then."}
    )
    quarantined = fields.Integer(metadata={"description": "Objects refused or waiting."})


class PeerSchema(Schema):
    id = fields.UUID(dump_only=True)
    url = String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "The peer's origin, e.g. https://nyc.example.org"},
    )
    name = String(dump_only=True, allow_none=True)
    relay = fields.Boolean(
        load_default=False,
        metadata={"description": "Accept objects of other origins that this peer relays."},
    )
    enabled = fields.Boolean(load_default=True)
    status = fields.Nested(PeerStatusSchema, attribute="sync_status", dump_only=True)
    created_at = AwareDateTime(dump_only=True)
    updated_at = AwareDateTime(dump_only=True)
    removed_at = AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Removed without purge: no longer read, kept while objects it "
            "brought are here (purge them with DELETE ?purge=true; add its URL to revive it)."
        },
    )


class PeerPatchSchema(PartialMixin, PeerSchema):
    class Meta:
        # A peer is its origin: pointing a peer elsewhere is removing it and adding another.
        exclude = ("url",)

    relay = fields.Boolean()
    enabled = fields.Boolean()

    @validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("Nothing to change: give relay or enabled.")


class PeerListSchema(Schema):
    items = fields.List(fields.Nested(PeerSchema), required=True)
    next_cursor = String(allow_none=True, required=True)


class QuarantinedObjectSchema(Schema):
    """An object a peer offered that was not applied (its envelope is not shown)."""

    id = fields.UUID(dump_only=True)
    kind = String(
        dump_only=True,
        metadata={"description": "rejected, conflict (same version, other content) or waiting"},
    )
    object_id = String(dump_only=True, allow_none=True, metadata={"description": "As claimed."})
    object_type = String(dump_only=True, allow_none=True)
    object_origin = String(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True, allow_none=True)
    reason = String(dump_only=True)
    received_at = AwareDateTime(dump_only=True)


QuarantinePageSchema = page_of(QuarantinedObjectSchema, "QuarantinePageSchema")


class PeerDeleteArgsSchema(Schema):
    purge = fields.Boolean(
        load_default=False,
        metadata={"description": "Also remove the objects this peer brought."},
    )


class SyncSummarySchema(Schema):
    peer_id = fields.UUID(required=True)
    url = String(required=True)
    ok = fields.Boolean(required=True)
    skipped = String(allow_none=True)
    requests = fields.Integer(required=True)
    not_modified = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    received = fields.Integer(required=True)
    applied = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    ignored = fields.Integer(required=True)
    rejected = fields.Integer(required=True)
    conflicts = fields.Integer(required=True)
    waiting = fields.Integer(required=True)
    resynced = fields.Boolean(required=True)
    swept = fields.Integer(required=True, metadata={"description": "Removed after a resync."})
    up_to_date = fields.Boolean(required=True)
    error = String(allow_none=True)
