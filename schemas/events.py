"""Events (actions), their locations and the listing filters."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.common import (
    LANGUAGE,
    AwareDateTime,
    FullMatch,
    LocalDateTime,
    LocalDateTimeList,
    PageArgsSchema,
    PartialMixin,
    ResourceSchema,
    String,
    Timezone,
    page_of,
    text,
    url,
)
from schemas.vocabulary import EVENT_KINDS, EVENT_STATUSES

TAG_PATTERN = FullMatch(r"^[\w-]+$", error="Letters, digits, - and _ only.")
TAG = String(validate=[validate.Length(min=1, max=40), TAG_PATTERN])


class LocationSchema(Schema):
    name = text(300, allow_none=True)
    address = text(500, allow_none=True)
    latitude = fields.Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, validate=validate.Range(min=-180, max=180))

    @validates_schema
    def _coordinates_come_in_pairs(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # A point needs both; one alone would be dropped from GEO and the map link silently.
        latitude, longitude = data.get("latitude"), data.get("longitude")
        if (latitude is None) != (longitude is None):
            missing = "longitude" if longitude is None else "latitude"
            present = "latitude" if missing == "longitude" else "longitude"
            raise ValidationError({missing: [f"Required with {present}."]})


class EventSchema(ResourceSchema):
    title = text(500, required=True, min_length=1)
    description = text(20000, multiline=True)
    starts_at = LocalDateTime(required=True)
    ends_at = LocalDateTime(required=True)
    timezone = Timezone(metadata={"description": "IANA zone; defaults to the coalition's."})
    all_day = fields.Boolean(
        metadata={"description": "starts_at/ends_at at local midnight; ends_at exclusive."}
    )
    rrule = String(
        allow_none=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "An RFC 5545 RRULE value, e.g. FREQ=DAILY;UNTIL=20270131T235959Z"},
    )
    exdates = LocalDateTimeList(
        AwareDateTime(),
        validate=validate.Length(max=500),
        metadata={"description": "Occurrence start times to skip."},
    )
    location = fields.Nested(LocationSchema, allow_none=True)
    online_url = url()
    kind = String(required=True, validate=validate.OneOf(EVENT_KINDS))
    tags = fields.List(TAG, validate=validate.Length(max=20))
    status = String(validate=validate.OneOf(EVENT_STATUSES))
    language = String(allow_none=True, validate=[validate.Length(max=35), LANGUAGE])
    campaign_id = fields.UUID(allow_none=True)
    coalition = String(attribute="coalition_slug", dump_only=True)
    url = String(dump_only=True)


class EventPatchSchema(PartialMixin, EventSchema):
    pass


class EventQueryArgsSchema(PageArgsSchema):
    city = String(validate=validate.Length(max=64))
    coalition = String(validate=validate.Length(max=64))
    campaign = fields.UUID()
    kind = String(validate=validate.OneOf(EVENT_KINDS))
    tag = String(validate=validate.Length(min=1, max=40))
    status = String(validate=validate.OneOf(EVENT_STATUSES))
    ends_after = AwareDateTime(
        data_key="from",
        metadata={"description": "Only events with an occurrence ending after this."},
    )
    starts_before = AwareDateTime(
        data_key="to",
        metadata={"description": "Only events with an occurrence starting before this."},
    )
    q = String(validate=validate.Length(min=1, max=200))


class FeedQueryArgsSchema(Schema):
    """Filters of /feeds/all.ics: those of the event listing that make sense in a calendar."""

    city = String(validate=validate.Length(max=64))
    coalition = String(validate=validate.Length(max=64))
    campaign = fields.UUID()
    kind = String(validate=validate.OneOf(EVENT_KINDS))
    tag = String(validate=[validate.Length(min=1, max=40), TAG_PATTERN])
    status = String(validate=validate.OneOf(EVENT_STATUSES))


EventPageSchema = page_of(EventSchema, "EventPageSchema")
