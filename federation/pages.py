"""Members' pages: server-rendered, no JavaScript, no cookies, nothing loaded from elsewhere."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, has_request_context, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from federation import headers, i18n
from federation import text as text_policy
from federation.db import get_session
from federation.models import Event
from federation.recurrence import RecurrenceError
from federation.services import campaigns as campaign_service
from federation.services import cities as city_service
from federation.services import coalitions as coalition_service
from federation.services import events as event_service
from federation.services import occurrences
from federation.services import pages as service
from federation.services.errors import DomainError, Gone
from federation.services.events import EventFilters
from schemas.common import EARLIEST, LATEST
from schemas.links import google_calendar_url, webcal_url
from schemas.vocabulary import EVENT_KINDS

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static")

ResponseValue = str | tuple[str, int] | BaseResponse


def _lang() -> str:
    return i18n.choose(_asked_lang(), request.accept_languages.best_match(i18n.LANGUAGES))


def _asked_lang() -> str | None:
    """The language asked for with ?lang=, if it is one we have."""
    asked = request.args.get("lang")
    return asked if asked in i18n.LANGUAGES else None


@bp.url_defaults
def _carry_language(endpoint: str, values: dict[str, Any]) -> None:
    # The pages set no cookies, so a language chosen with the switch lives in the links: every
    # link from one page to another carries it (the stylesheet needs none).
    if endpoint == "pages.static" or not has_request_context() or request.blueprint != "pages":
        return
    if (asked := _asked_lang()) is not None:
        values.setdefault("lang", asked)


@bp.after_request
def _page_headers(response: BaseResponse) -> BaseResponse:
    if request.endpoint != "pages.static":
        response.vary.add("Accept-Language")
        headers.page_headers(response)
    return response


def _page(view: Callable[..., ResponseValue]) -> Callable[..., ResponseValue]:
    """Render a domain error (unknown, deleted) as an HTML page instead of JSON."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseValue:
        try:
            return view(*args, **kwargs)
        except DomainError as error:
            if error.status not in (404, 410):
                raise
            title = "Gone" if isinstance(error, Gone) else "Not found"
            message = (
                "This was deleted." if isinstance(error, Gone) else "This page does not exist."
            )
            return render_template("error.html", title=title, message=message), error.status

    return wrapper


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _since() -> dt.datetime:
    """Where a list of upcoming actions starts: now, or `?from=` (a date, or a time with an
    offset, as the link to a list's next part gives it); anything else is ignored."""
    now = _now()
    raw = request.args.get("from", "")
    try:
        moment = dt.datetime.fromisoformat(raw) if len(raw) > 10 else None
        if moment is None:
            moment = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time())
    except ValueError:
        return now
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        moment = moment.astimezone(dt.UTC)
    except OverflowError:
        return now
    return moment if EARLIEST <= moment <= LATEST else now


def _more(found: service.Upcoming) -> dict[str, Any] | None:
    """Where a cut list goes on: the first occurrence left out, and this page from there."""
    if found.more is None:
        return None
    start = found.more.starts_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = {**request.args.to_dict(), "from": start}
    return {
        "occurrence": found.more,
        "shown": len(found.occurrences),
        "href": request.path + "?" + urlencode(args),
    }


def subscribe_links(path: str) -> dict[str, str]:
    feed = current_app.config["FEDERATION_BASE_URL"] + path
    return {"feed": feed, "webcal": webcal_url(feed), "google": google_calendar_url(feed)}


def repeat_text(lang: str, event: Event) -> str | None:
    """ "every day until January 30, 2027": enough for the common rules, else "Repeats"."""
    if not event.rrule:
        return None
    parts = dict(p.partition("=")[::2] for p in event.rrule.split(";"))
    every = {"DAILY": "every day", "WEEKLY": "every week", "MONTHLY": "every month",
             "YEARLY": "every year"}.get(parts.get("FREQ", ""))  # fmt: skip
    if every is None or "INTERVAL" in parts or any(p.startswith("BY") for p in parts):
        return i18n.translate(lang, "Repeats")
    series = occurrences.series_of(event)
    if series is None:  # a rule stored by an older release that this one refuses
        return i18n.translate(lang, "Repeats")
    text = i18n.translate(lang, every)
    try:
        last_end = series.last_end(event.exdates)
    except RecurrenceError:  # more occurrences than a series may have now: an older release's
        return i18n.translate(lang, "Repeats")
    if last_end is not None:
        last_day = (last_end - dt.timedelta(seconds=1)).astimezone(series.zone).date()
        text += f" {i18n.translate(lang, 'until')} {i18n.format_day(lang, last_day)}"
    return text


def event_json_ld(event: Event, occurrence: service.Occurrence | None) -> dict[str, Any]:
    """schema.org Event, so search engines and link previews show the action right."""
    starts = occurrence.starts_at if occurrence else event.starts_at
    ends = occurrence.ends_at if occurrence else event.ends_at
    status = {
        "cancelled": "https://schema.org/EventCancelled",
        "tentative": "https://schema.org/EventScheduled",
        "confirmed": "https://schema.org/EventScheduled",
    }[event.status]
    places: list[dict[str, Any]] = []
    if event.location:
        place: dict[str, Any] = {"@type": "Place", "name": event.location_name or ""}
        if event.location_address:
            place["address"] = event.location_address
        if event.latitude is not None and event.longitude is not None:
            place["geo"] = {
                "@type": "GeoCoordinates",
                "latitude": event.latitude,
                "longitude": event.longitude,
            }
        places.append(place)
    if event.online_url:
        places.append({"@type": "VirtualLocation", "url": event.online_url})
    mode = (
        "MixedEventAttendanceMode"
        if len(places) == 2
        else "OnlineEventAttendanceMode"
        if event.online_url
        else "OfflineEventAttendanceMode"
    )
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "description": event.description,
        "startDate": starts.isoformat(),
        "endDate": ends.isoformat(),
        "eventStatus": status,
        "eventAttendanceMode": f"https://schema.org/{mode}",
        "url": event.url,
        "organizer": {
            "@type": "Organization",
            "name": event.coalition.name,
            "url": current_app.config["FEDERATION_BASE_URL"]
            + f"/coalitions/{event.coalition.slug}",
        },
    }
    if places:
        data["location"] = places[0] if len(places) == 1 else places
    if event.language:
        data["inLanguage"] = event.language
    return data


def _filters_from_query() -> tuple[EventFilters, dict[str, str]]:
    """The home page's filters; unknown values simply match nothing."""
    chosen = {
        # Text the policy refuses (a NUL: PostgreSQL cannot even compare it) names nothing.
        name: value if text_policy.refusal(value) is None else "\ufffd"
        for name in ("city", "coalition", "campaign", "kind")
        if (value := request.args.get(name, "").strip())
    }
    campaign = None
    if "campaign" in chosen:
        try:
            campaign = uuid.UUID(chosen["campaign"])
        except ValueError:
            campaign = uuid.UUID(int=0)
    filters = EventFilters(
        city=chosen.get("city"),
        coalition=chosen.get("coalition"),
        campaign=campaign,
        kind=chosen.get("kind"),
    )
    return filters, chosen


@bp.get("/")
@_page
def home() -> ResponseValue:
    session = get_session()
    filters, chosen = _filters_from_query()
    found = service.upcoming(session, filters, now=_since())
    feed_path = "/feeds/all.ics" + ("?" + urlencode(sorted(chosen.items())) if chosen else "")
    return render_template(
        "home.html",
        days=service.by_day(found.occurrences),
        more=_more(found),
        choices={**service.filter_choices(session), "kind": [(k, k) for k in EVENT_KINDS]},
        chosen=chosen,
        links=subscribe_links(feed_path),
    )


@bp.get("/cities/<slug:slug>")
@_page
def city(slug: str) -> ResponseValue:
    session = get_session()
    found = city_service.get_city(session, slug)
    coalitions = [coalition_service.get_coalition(session, s) for s in found.coalitions]
    upcoming = service.upcoming(session, EventFilters(city=slug), now=_since())
    return render_template(
        "city.html",
        city=found,
        coalitions=coalitions,
        days=service.by_day(upcoming.occurrences),
        more=_more(upcoming),
        links=subscribe_links(found.feed_path),
    )


@bp.get("/coalitions/<slug:slug>")
@_page
def coalition(slug: str) -> ResponseValue:
    session = get_session()
    found = coalition_service.get_coalition(session, slug)
    upcoming = service.upcoming(session, EventFilters(coalition=slug), now=_since())
    campaigns = campaign_service.list_campaigns(
        session, coalition=slug, city=None, q=None, cursor=None, limit=50
    ).items
    return render_template(
        "coalition.html",
        coalition=found,
        campaigns=campaigns,
        days=service.by_day(upcoming.occurrences),
        more=_more(upcoming),
        links=subscribe_links(found.feed_path),
    )


@bp.get("/campaigns/<uuid:campaign_id>")
@_page
def campaign(campaign_id: uuid.UUID) -> ResponseValue:
    session = get_session()
    found = campaign_service.get_campaign(session, campaign_id)
    return render_template(
        "campaign.html",
        page=service.campaign_page(session, found, now=_now()),
        links=subscribe_links(found.feed_path),
    )


@bp.get("/events/<uuid:event_id>")
@_page
def event(event_id: uuid.UUID) -> ResponseValue:
    session = get_session()
    found = event_service.get_event(session, event_id)
    occurrence = service.next_occurrence(found, _now())
    campaign = (
        campaign_service.get_campaign(session, found.campaign_id) if found.campaign_id else None
    )
    lang = _lang()
    return render_template(
        "event.html",
        event=found,
        # A past action still shows when it took place.
        occurrence=occurrence or service.first_occurrence(found),
        campaign=campaign,
        repeats=repeat_text(lang, found),
        json_ld=event_json_ld(found, occurrence),
    )


def init_app(app: Flask) -> None:
    @app.context_processor
    def _chrome() -> dict[str, Any]:
        lang = _lang()

        def switch(target: str) -> str:
            args = {**request.args.to_dict(), "lang": target}
            return request.path + "?" + urlencode(args)

        return {
            "lang": lang,
            "_": functools.partial(i18n.translate, lang),
            "kind_label": functools.partial(i18n.kind_label, lang),
            "level_label": functools.partial(i18n.level_label, lang),
            "format_day": functools.partial(i18n.format_day, lang),
            "format_time": functools.partial(i18n.format_time, lang),
            "switch_language": switch,
            "asked_lang": _asked_lang(),
            "instance_name": app.config["FEDERATION_INSTANCE_NAME"],
        }

    app.register_blueprint(bp)
