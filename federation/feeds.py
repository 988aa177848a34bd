"""The iCalendar feed routes: public, anonymous, cacheable, conditional."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from federation.db import get_session
from federation.services import feeds as service
from federation.services.errors import InvalidInput, NotFound
from federation.services.events import EventFilters
from schemas.events import FeedQueryArgsSchema

bp = Blueprint("feeds", __name__)
CACHE_KEY = "federation.feed_cache"


def _serve(spec: service.FeedSpec, filename: str) -> BaseResponse:
    config = current_app.config
    feed = service.get_feed(
        get_session(),
        current_app.extensions[CACHE_KEY],
        spec,
        base_url=config["FEDERATION_BASE_URL"],
        past_days=config["FEDERATION_FEED_PAST_DAYS"],
        cap=config["FEDERATION_FEED_MAX_EVENTS"],
        now=dt.datetime.now(dt.UTC),
    )
    response = Response(feed.body, content_type="text/calendar; charset=utf-8")
    response.set_etag(feed.etag)
    response.last_modified = feed.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = 300
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Content-Disposition"] = _content_disposition(filename)
    # 304 for a matching If-None-Match (or, without one, If-Modified-Since); HEAD is Flask's.
    return response.make_conditional(request)


def _content_disposition(name: str) -> str:
    """`inline; filename="…"`, with RFC 6266's `filename*` (UTF-8, percent-encoded) for a
    non-ASCII name such as a tag's; `filename` then holds an ASCII approximation for old
    clients. A header is Latin-1 on the wire: a raw "東京.ics" was a 500 under gunicorn.
    (Written out rather than by werkzeug's Headers.set, which drops the quotes of `filename`
    that the feeds have always sent.)"""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r"[^A-Za-z0-9._-]", "", ascii_name)
    if not fallback.removesuffix(".ics").strip("-_."):
        fallback = "feed.ics"
    value = f'inline; filename="{fallback}"'
    if fallback != name:
        value += "; filename*=UTF-8''" + quote(name, safe="")
    return value


def _instance_name() -> str:
    return str(current_app.config["FEDERATION_INSTANCE_NAME"])


@bp.get("/feeds/all.ics")
def all_events() -> BaseResponse:
    try:
        args: dict[str, Any] = FeedQueryArgsSchema().load(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise InvalidInput("Invalid feed filters.", exc.messages_dict, location="query") from exc
    return _serve(service.all_feed(EventFilters(**args), _instance_name()), "all.ics")


@bp.get("/feeds/cities/<slug:city>.ics")
def city(city: str) -> BaseResponse:
    return _serve(service.city_feed(get_session(), city, _instance_name()), f"{city}.ics")


@bp.get("/feeds/coalitions/<slug:slug>.ics")
def coalition(slug: str) -> BaseResponse:
    return _serve(service.coalition_feed(get_session(), slug), f"{slug}.ics")


@bp.get("/feeds/campaigns/<uuid:campaign_id>.ics")
def campaign(campaign_id: uuid.UUID) -> BaseResponse:
    return _serve(service.campaign_feed(get_session(), campaign_id), f"campaign-{campaign_id}.ics")


@bp.get("/feeds/tags/<tag>.ics")
def tag(tag: str) -> BaseResponse:
    try:
        FeedQueryArgsSchema().load({"tag": tag})
    except ValidationError as exc:
        # The address of a feed that cannot exist, like an unknown coalition's.
        raise NotFound("No such tag feed: a tag is letters, digits, - and _.") from exc
    return _serve(service.tag_feed(tag, _instance_name()), f"{tag}.ics")


@bp.get("/events/<uuid:event_id>.ics")
def event(event_id: uuid.UUID) -> BaseResponse:
    return _serve(service.event_feed(get_session(), event_id), f"event-{event_id}.ics")


def init_app(app: Flask) -> None:
    app.extensions[CACHE_KEY] = service.FeedCache()
    app.register_blueprint(bp)
