"""Fields and building blocks shared by the resource schemas."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from federation import text as text_policy
from federation.recurrence import LATEST_START


class FullMatch(validate.Regexp):
    """A pattern the whole value must match.

    marshmallow's Regexp uses re.match, and Python's `$` also matches before a final newline:
    `^[a-z]+$` would let "x\n" through. The pattern keeps its `^...$` form for the OpenAPI
    document (where `$` means the end), and is applied with fullmatch here.
    """

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


SLUG_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"
SLUG = FullMatch(rf"^{SLUG_PATTERN}$", error="Lowercase letters, digits and single hyphens only.")
LANGUAGE = FullMatch(
    re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"),
    error="A language tag such as en, es or hmn.",
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far enough for any action; near year 1 or 9999, converting between zones overflows.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = LATEST_START


class String(fields.String):
    """Text under the project's text policy (federation/text.py).

    Single-line unless `multiline=True`, so a new field is safe by default: no control
    character, no NUL, no lone surrogate; a multi-line one may also hold LF and TAB. A
    required field must hold something visible.
    """

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_policy.refusal(text, multiline=self.multiline)
        if problem is not None:
            raise ValidationError(problem)
        if self.required and text_policy.is_blank(text):
            raise ValidationError("Must not be blank.")
        return text


class URL(String, fields.URL):
    """An absolute http(s) URL that is also single-line text under the policy.

    marshmallow's own URL field is a plain String: on its own it let a NUL through."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(schemes={"http", "https"}, **kwargs)


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with an offset, between 1900 and 2200."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment: dt.datetime = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= moment <= LATEST:
            raise ValidationError("Must be between 1900 and 2200.")
        return moment


@functools.cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class Timezone(String):
    """An IANA time zone name from the tz database, e.g. America/Chicago."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        # Membership, not ZoneInfo(name): that would also accept file paths and odd aliases.
        if name not in known_timezones():
            raise ValidationError(
                f"Unknown time zone {name!r}; use an IANA name such as America/Chicago."
            )
        return name


class LocalDateTime(AwareDateTime):
    """An aware datetime shown in the zone named by the object's `timezone` attribute."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is not None and getattr(obj, "timezone", None):
            value = value.astimezone(zoneinfo.ZoneInfo(obj.timezone))
        return super()._serialize(value, attr, obj, **kwargs)


class LocalDateTimeList(fields.List[Any]):
    """A list of aware datetimes shown in the zone of the object's `timezone`."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        zone = zoneinfo.ZoneInfo(obj.timezone)
        return [moment.astimezone(zone).isoformat() for moment in value]


def text(
    max_length: int,
    *,
    required: bool = False,
    allow_none: bool = False,
    min_length: int = 0,
    multiline: bool = False,
) -> String:
    return String(
        required=required,
        allow_none=allow_none,
        multiline=multiline,
        validate=validate.Length(min=min_length, max=max_length),
    )


def url(*, allow_none: bool = True) -> URL:
    return URL(allow_none=allow_none, validate=validate.Length(max=2000))


class ResourceSchema(Schema):
    """Fields every published resource shows; all read-only."""

    id = fields.UUID(dump_only=True)
    origin = String(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = AwareDateTime(dump_only=True)
    updated_at = AwareDateTime(dump_only=True)


class PageArgsSchema(Schema):
    cursor = String(validate=validate.Length(max=1000))
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )


class PageSchema(Schema):
    next_cursor = String(allow_none=True, required=True)


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    """A collection schema {items: [...], next_cursor} named e.g. EventPage."""
    return type(
        name,
        (PageSchema,),
        {"items": fields.List(fields.Nested(item_schema), required=True)},
    )


class PartialMixin:
    """Every field optional, as PATCH bodies are; a named class keeps the OpenAPI name.

    Only the top-level fields: `partial=True` would reach into nested objects too, and accept a
    member organization without its name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", tuple(getattr(type(self), "_declared_fields", ())))
        super().__init__(*args, **kwargs)
