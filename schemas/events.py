"""Events (actions), their locations and the listing filters."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import (
    LANGUAGE,
    LocalDateTime,
    LocalDateTimeList,
    PageArgsSchema,
    PartialMixin,
    ResourceSchema,
    Timezone,
    page_of,
    text,
    url,
)
from schemas.vocabulary import EVENT_KINDS, EVENT_STATUSES

TAG = fields.String(
    validate=[
        validate.Length(min=1, max=40),
        validate.Regexp(r"^[\w-]+$", error="Letters, digits, - and _ only."),
    ]
)


class LocationSchema(Schema):
    name = text(300, allow_none=True)
    address = text(500, allow_none=True)
    latitude = fields.Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, validate=validate.Range(min=-180, max=180))


class EventSchema(ResourceSchema):
    title = text(300, required=True, min_length=1)
    description = text(20000)
    starts_at = LocalDateTime(required=True)
    ends_at = LocalDateTime(required=True)
    timezone = Timezone(metadata={"description": "IANA zone; defaults to the coalition's."})
    all_day = fields.Boolean(
        metadata={"description": "starts_at/ends_at at local midnight; ends_at exclusive."}
    )
    rrule = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "An RFC 5545 RRULE value, e.g. FREQ=DAILY;UNTIL=20270131T235959Z"},
    )
    exdates = LocalDateTimeList(
        fields.AwareDateTime(),
        validate=validate.Length(max=500),
        metadata={"description": "Occurrence start times to skip."},
    )
    location = fields.Nested(LocationSchema, allow_none=True)
    online_url = url()
    kind = fields.String(required=True, validate=validate.OneOf(EVENT_KINDS))
    tags = fields.List(TAG, validate=validate.Length(max=20))
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    language = fields.String(allow_none=True, validate=[validate.Length(max=35), LANGUAGE])
    campaign_id = fields.UUID(allow_none=True)
    coalition = fields.String(attribute="coalition_slug", dump_only=True)
    url = fields.String(dump_only=True)


class EventPatchSchema(PartialMixin, EventSchema):
    pass


class EventQueryArgsSchema(PageArgsSchema):
    city = fields.String(validate=validate.Length(max=64))
    coalition = fields.String(validate=validate.Length(max=64))
    campaign = fields.UUID()
    kind = fields.String(validate=validate.OneOf(EVENT_KINDS))
    tag = fields.String(validate=validate.Length(min=1, max=40))
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    ends_after = fields.AwareDateTime(
        data_key="from",
        metadata={"description": "Only events with an occurrence ending after this."},
    )
    starts_before = fields.AwareDateTime(
        data_key="to",
        metadata={"description": "Only events with an occurrence starting before this."},
    )
    q = fields.String(validate=validate.Length(min=1, max=200))


EventPageSchema = page_of(EventSchema, "EventPageSchema")
