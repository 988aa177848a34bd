"""Subscribe links: https feed, webcal:// and Google Calendar's add-by-URL, from a feed path."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from marshmallow import fields

# The instance's public origin; the application sets it for each request.
PUBLIC_BASE_URL: ContextVar[str] = ContextVar("PUBLIC_BASE_URL", default="")


def webcal_url(feed_url: str) -> str:
    return "webcal://" + feed_url.split("://", 1)[1]


def google_calendar_url(feed_url: str) -> str:
    """Google Calendar's "add by URL" link (it subscribes to the webcal address)."""
    return "https://calendar.google.com/calendar/r?cid=" + quote(webcal_url(feed_url), safe="")


_LINKS = {
    "feed": lambda url: url,
    "webcal": webcal_url,
    "google": google_calendar_url,
}


class SubscribeLink(fields.String):
    """A read-only link built from the object's `feed_path`."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        super().__init__(
            attribute="feed_path", dump_only=True, metadata={"format": "uri"}, **kwargs
        )
        self.kind = kind

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return str(_LINKS[self.kind](PUBLIC_BASE_URL.get() + value))


class SubscribeLinksMixin:
    feed_url = SubscribeLink("feed")
    webcal_url = SubscribeLink("webcal")
    google_calendar_url = SubscribeLink("google")
