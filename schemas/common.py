"""Fields and building blocks shared by the resource schemas."""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

SLUG = validate.Regexp(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="Lowercase letters, digits and single hyphens only."
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@functools.cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class Timezone(fields.String):
    """An IANA time zone name from the tz database, e.g. America/Chicago."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        # Membership, not ZoneInfo(name): that would also accept file paths and odd aliases.
        if name not in known_timezones():
            raise ValidationError(
                f"Unknown time zone {name!r}; use an IANA name such as America/Chicago."
            )
        return name


class LocalDateTime(fields.AwareDateTime):
    """An aware datetime shown in the zone named by the object's `timezone` attribute."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is not None and getattr(obj, "timezone", None):
            value = value.astimezone(zoneinfo.ZoneInfo(obj.timezone))
        return super()._serialize(value, attr, obj, **kwargs)


class LocalDateTimeList(fields.List[Any]):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        zone = zoneinfo.ZoneInfo(obj.timezone)
        return [moment.astimezone(zone).isoformat() for moment in value]


def text(
    max_length: int, *, required: bool = False, allow_none: bool = False, min_length: int = 0
) -> fields.String:
    return fields.String(
        required=required,
        allow_none=allow_none,
        validate=validate.Length(min=min_length, max=max_length),
    )


def url(*, allow_none: bool = True) -> fields.URL:
    return fields.URL(
        schemes={"http", "https"},
        allow_none=allow_none,
        validate=validate.Length(max=2000),
    )


class ResourceSchema(Schema):
    """Fields every published resource shows; all read-only."""

    id = fields.UUID(dump_only=True)
    origin = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class PageArgsSchema(Schema):
    cursor = fields.String(validate=validate.Length(max=1000))
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )


class PageSchema(Schema):
    next_cursor = fields.String(allow_none=True, required=True)


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    """A collection schema {items: [...], next_cursor} named e.g. EventPage."""
    return type(
        name,
        (PageSchema,),
        {"items": fields.List(fields.Nested(item_schema), required=True)},
    )


class PartialMixin:
    """Every field optional, as PATCH bodies are; a named class keeps the OpenAPI name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


LANGUAGE = validate.Regexp(
    re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"),
    error="A language tag such as en, es or hmn.",
)
