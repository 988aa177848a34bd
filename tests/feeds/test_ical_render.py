"""What one action looks like in a calendar: its text exactly as written, in any language, and
the properties apps use (all-day dates, map pin, categories, link, language, UID)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from conftest import BASE_URL
from flask.testing import FlaskClient
from ical_checks import events, fetch, strict_ical, unfolded

Maker = Callable[..., dict[str, Any]]


def at(days: int, hour: int = 18, zone: str = "America/Chicago") -> dt.datetime:
    day = dt.date.today() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), ZoneInfo(zone))


def upcoming(**overrides: Any) -> dict[str, Any]:
    """Start and end a week from today, so the action is inside the feed window when run."""
    start = at(7)
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
        **overrides,
    }


def repeat(sentence: str, length: int) -> str:
    """`sentence` repeated to exactly `length` characters, not ending in a space."""
    text = (sentence * (length // len(sentence) + 1))[:length]
    return text[:-1] + "." if text.endswith(" ") else text


SPANISH = (
    "¡Huelga general! Marcha por los derechos de los trabajadores inmigrantes: nos reunimos "
    "en la plaza frente al Capitolio a las 19 h. Traigan pancartas, tambores y a sus vecinos; "
    "habrá café, pan dulce y cuidado de niños. Año tras año, la solidaridad crece. "
)
SOMALI = (
    "Bannaanbax nabadeed oo lagu taageerayo xuquuqda shaqaalaha iyo qoysaska soo galootiga ah. "
    "Fadlan keena calammo, biyo iyo saaxiibbadiin; kulanku wuxuu ka dhacayaa beerta dadweynaha "
    "ee u dhow masjidka. Cunto iyo shaah ayaa la heli doonaa, carruurtana waa la ilaalin doonaa. "
)
HMONG = (
    "Peb yuav sib sau ua ke ntawm lub tsev kawm ntawv los txhawb cov neeg ua haujlwm thiab "
    "lawv tsev neeg. Nqa koj cov phooj ywg tuaj koom nrog peb; yuav muaj zaub mov thiab dej haus. "
    "Peb yuav taug kev mus rau lub nroog hall thaum tsaus ntuj. "
)

# (title, description, location name, language). Titles are at the API's 500-character limit.
TEXTS = {
    "punctuation": (
        "Rally, then march; bring signs \\ banners",
        "Line one, with a comma;\nline two; a backslash \\ and \\n typed literally.\n\nEnd.",
        "Union Hall; Room 2, upstairs \\ east",
        None,
    ),
    "emoji": (
        "✊🏽 Huelga general 🪧📣 — ¡todos a la calle! 👩🏾‍🔧👨🏻‍🌾",
        "Trae tu 🥁 y tu 🪧.\n🚇 Línea verde → estación Capitol/Rice St.",
        "Plaza 🌳 del Pueblo",
        "es",
    ),
    "spanish": (repeat(SPANISH, 500), repeat(SPANISH, 500), repeat(SPANISH, 300), "es"),
    "somali": (repeat(SOMALI, 500), repeat(SOMALI, 500), repeat(SOMALI, 300), "so"),
    "hmong": (repeat(HMONG, 500), repeat(HMONG, 500), repeat(HMONG, 300), "hmn"),
}


@pytest.mark.parametrize(("title", "description", "place", "language"), TEXTS.values(), ids=TEXTS)
def test_text_survives_both_parsers(
    client: FlaskClient,
    make_coalition: Maker,
    make_event: Maker,
    title: str,
    description: str,
    place: str,
    language: str | None,
) -> None:
    make_coalition()
    event = make_event(
        **upcoming(
            title=title,
            description=description,
            language=language,
            location={"name": place, "address": "75 Rev Dr Martin Luther King Jr Blvd, St Paul"},
        )
    )
    summary = title
    full_description = f"{description}\n\n{event['url']}"
    location = f"{place}, 75 Rev Dr Martin Luther King Jr Blvd, St Paul"

    for path in ("/feeds/all.ics", f"/events/{event['id']}.ics"):
        response, calendar = fetch(client, path)

        (vevent,) = events(calendar)
        assert str(vevent["SUMMARY"]) == summary, path
        assert str(vevent["DESCRIPTION"]) == full_description, path
        assert str(vevent["LOCATION"]) == location, path
        (strict,) = strict_ical(response.data.decode()).events
        assert strict.summary == summary, path
        assert strict.description == full_description, path
        assert strict.location == location, path
        if len(title) > 100:
            # The long texts really were folded, so the byte lint had folds to check.
            assert b"\r\n " in response.data


@pytest.mark.parametrize("zone", ["America/Chicago", "Pacific/Auckland"])
def test_all_day_action_is_a_date_with_exclusive_end(
    client: FlaskClient, make_coalition: Maker, make_event: Maker, zone: str
) -> None:
    make_coalition()
    first = dt.date.today() + dt.timedelta(days=10)
    start = dt.datetime.combine(first, dt.time(), ZoneInfo(zone))
    # A two-day strike: midnight to midnight two days later (exclusive), in the event's zone.
    event = make_event(
        title="Two-day strike",
        kind="strike",
        all_day=True,
        timezone=zone,
        starts_at=start.isoformat(),
        ends_at=(start + dt.timedelta(days=2)).isoformat(),
    )

    response, calendar = fetch(client, f"/events/{event['id']}.ics")

    (vevent,) = events(calendar)
    # Dates, not midnights: Auckland's midnight is the previous day in UTC.
    assert vevent["DTSTART"].dt == first
    assert vevent["DTEND"].dt == first + dt.timedelta(days=2)
    text = unfolded(response.data)
    assert f"DTSTART;VALUE=DATE:{first:%Y%m%d}\r\n" in text
    assert f"DTEND;VALUE=DATE:{first + dt.timedelta(days=2):%Y%m%d}\r\n" in text
    days = [
        occurrence["DTSTART"].dt
        for occurrence in recurring_ical_events.of(calendar).between(
            first - dt.timedelta(days=5), first + dt.timedelta(days=5)
        )
    ]
    assert days == [first]
    # The exclusive end: the strike covers two days, and not the third.
    assert recurring_ical_events.of(calendar).at(first + dt.timedelta(days=1))
    assert not recurring_ical_events.of(calendar).at(first + dt.timedelta(days=2))
    (strict,) = strict_ical(response.data.decode()).events
    assert strict.dtstart == first
    assert strict.dtend == first + dt.timedelta(days=2)


def test_map_pin_categories_link_and_language(
    client: FlaskClient, make_coalition: Maker, make_event: Maker
) -> None:
    make_coalition()
    event = make_event(
        **upcoming(
            kind="picket",
            tags=["Housing", "day-of-action"],
            language="es",
            status="tentative",
            online_url="https://stream.example.org/live",
        )
    )

    response, calendar = fetch(client, f"/events/{event['id']}.ics")

    (vevent,) = events(calendar)
    geo = vevent["GEO"]
    assert (geo.latitude, geo.longitude) == (44.9553, -93.1022)
    # GEO is "lat;lon" with a semicolon (RFC 5545 3.8.1.6), not a comma.
    assert "\r\nGEO:44.9553;-93.1022\r\n" in unfolded(response.data)
    assert vevent.categories == ["picket", "housing", "day-of-action"]
    assert str(vevent["URL"]) == f"{BASE_URL}/events/{event['id']}" == event["url"]
    for name in ("SUMMARY", "DESCRIPTION", "LOCATION"):
        assert vevent[name].params["LANGUAGE"] == "es", name
    assert vevent["STATUS"] == "TENTATIVE"
    # The event's link comes last: clients that show DESCRIPTION only still lead to the page.
    description = str(vevent["DESCRIPTION"])
    assert (
        description == f"Bring signs.\n\nOnline: https://stream.example.org/live\n\n{event['url']}"
    )
    (strict,) = strict_ical(response.data.decode()).events
    assert strict.categories == ["picket", "housing", "day-of-action"]
    assert strict.url == event["url"]
    assert strict.geo is not None
    assert (strict.geo.lat, strict.geo.lng) == (44.9553, -93.1022)


def test_action_without_place_or_language_has_no_empty_properties(
    client: FlaskClient, make_coalition: Maker, make_event: Maker
) -> None:
    make_coalition()
    event = make_event(**upcoming(location=None, description="", tags=[]))

    _, calendar = fetch(client, f"/events/{event['id']}.ics")

    (vevent,) = events(calendar)
    # An empty LOCATION or GEO:0;0 would put a pin in the Gulf of Guinea.
    assert "LOCATION" not in vevent
    assert "GEO" not in vevent
    assert "LANGUAGE" not in vevent["SUMMARY"].params
    assert str(vevent["DESCRIPTION"]) == event["url"]
    assert vevent.categories == ["march"]


def test_uid_is_the_same_in_every_feed(
    client: FlaskClient, make_coalition: Maker, make_campaign: Maker, make_event: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()
    event = make_event(**upcoming(tags=["day-of-action"], campaign_id=campaign["id"]))
    paths = [
        f"/events/{event['id']}.ics",
        "/feeds/all.ics",
        "/feeds/cities/minneapolis.ics",
        "/feeds/coalitions/minneapolis.ics",
        f"/feeds/campaigns/{campaign['id']}.ics",
        "/feeds/tags/day-of-action.ics",
    ]

    found = set()
    for path in paths:
        _, calendar = fetch(client, path)
        (vevent,) = events(calendar)
        found.add(str(vevent["UID"]))

    # One UID everywhere, so a member subscribed to several feeds sees the action once.
    assert found == {f"{event['id']}@federation.test"}


def test_calendar_properties_apps_read(client: FlaskClient, make_coalition: Maker) -> None:
    make_coalition()

    response, calendar = fetch(client, "/feeds/coalitions/minneapolis.ics")

    assert isinstance(calendar, icalendar.Calendar)
    assert str(calendar["PRODID"]) == "-//Solidarity Federation//federation//EN"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    text = unfolded(response.data)
    # Without VALUE=DURATION, REFRESH-INTERVAL is invalid (RFC 7986 5.7) and ignored.
    assert "\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
    # Outlook reads X-PUBLISHED-TTL; a timedelta printed as "1:00:00" would be ignored.
    assert "\r\nX-PUBLISHED-TTL:PT1H\r\n" in text
    assert str(calendar["SOURCE"]) == f"{BASE_URL}/feeds/coalitions/minneapolis.ics"
    assert "Twin Cities Solidarity Coalition" in str(calendar["X-WR-CALDESC"])
