"""The iCalendar feeds over HTTP: which actions each feed holds, caching, edits reaching
subscribers, and times that stay right across zones and DST. Every body goes through check_feed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from conftest import BASE_URL
from flask import Flask
from flask.testing import FlaskClient
from ical_checks import by_summary, check_feed, events, fetch, strict_ical, summaries, unfolded
from sqlalchemy import select, update

from federation.db import get_session
from federation.feeds import CACHE_KEY
from federation.models import Event, InstanceState
from federation.services.feeds import FeedCache

Maker = Callable[..., dict[str, Any]]
CHICAGO = "America/Chicago"
# Headers every feed response carries, whatever the route; HEAD must repeat them.
FEED_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Disposition",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Access-Control-Allow-Origin",
)


def at(days: int, hour: int = 18, zone: str = CHICAGO) -> dt.datetime:
    """`days` from today (negative: ago) at `hour`:00 wall-clock time in `zone`."""
    day = dt.date.today() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), ZoneInfo(zone))


def publish(
    make_event: Maker, title: str, *, days: int = 7, hours: int = 2, **overrides: Any
) -> dict[str, Any]:
    """An action `days` from today, so that it stays inside the feed window whenever run."""
    start = at(days)
    overrides.setdefault("starts_at", start.isoformat())
    overrides.setdefault("ends_at", (start + dt.timedelta(hours=hours)).isoformat())
    return make_event(title=title, **overrides)


def uid(event: dict[str, Any]) -> str:
    return f"{event['id']}@federation.test"


def uids(calendar: icalendar.Calendar) -> set[str]:
    return {str(event["UID"]) for event in events(calendar)}


def _edit(client: FlaskClient, admin: dict[str, str], event: dict[str, Any], **changes: Any) -> Any:
    response = client.patch(f"/api/v1/events/{event['id']}", json=changes, headers=admin)
    assert response.status_code == 200, response.json
    return response.json


def _backdate(app: Flask, event_id: str, days: int) -> dt.datetime:
    """Pretend the event was created and last changed `days` ago; its VEVENT is re-rendered."""
    with app.app_context():
        session = get_session()
        event = session.get(Event, uuid.UUID(event_id))
        assert event is not None
        moment = event.updated_at - dt.timedelta(days=days)
        event.created_at = event.updated_at = moment
        session.commit()
        return moment


# Routes and filters


@pytest.fixture
def actions(make_coalition: Maker, make_campaign: Maker, make_event: Maker) -> dict[str, str]:
    """Two coalitions in Minneapolis and one in Chicago, one campaign, four actions."""
    make_coalition()
    make_coalition(
        slug="mpls-tenants",
        name="Minneapolis Tenants Union",
        city="Minneapolis",
        city_slug="minneapolis",
    )
    make_coalition(
        slug="chicago",
        name="Chicago Coalition",
        city="Chicago",
        city_slug="chicago",
        timezone=CHICAGO,
    )
    campaign = make_campaign()
    march = publish(
        make_event, "mpls-march", kind="march", tags=["day-of-action"], campaign_id=campaign["id"]
    )
    publish(make_event, "mpls-picket", days=8, kind="picket", tags=["housing"], status="tentative")
    publish(
        make_event,
        "tenants-vigil",
        coalition="mpls-tenants",
        days=9,
        kind="vigil",
        tags=["housing"],
    )
    publish(
        make_event,
        "chi-rally",
        coalition="chicago",
        kind="rally",
        tags=["day-of-action"],
        campaign_id=campaign["id"],
        status="cancelled",
    )
    return {"campaign": campaign["id"], "event": march["id"]}


ALL = ["Cancelled: chi-rally", "mpls-march", "mpls-picket", "tenants-vigil"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ALL),
        ({"city": "minneapolis"}, ["mpls-march", "mpls-picket", "tenants-vigil"]),
        ({"city": "chicago"}, ["Cancelled: chi-rally"]),
        ({"coalition": "minneapolis"}, ["mpls-march", "mpls-picket"]),
        ({"campaign": "{campaign}"}, ["Cancelled: chi-rally", "mpls-march"]),
        ({"kind": "picket"}, ["mpls-picket"]),
        ({"tag": "housing"}, ["mpls-picket", "tenants-vigil"]),
        # Tags are matched case-insensitively, as they are stored.
        ({"tag": "Day-Of-Action"}, ["Cancelled: chi-rally", "mpls-march"]),
        ({"status": "cancelled"}, ["Cancelled: chi-rally"]),
        ({"status": "tentative"}, ["mpls-picket"]),
        ({"city": "minneapolis", "tag": "housing", "kind": "vigil"}, ["tenants-vigil"]),
        # A filter matching nothing is an empty calendar, not an error that disables it.
        ({"coalition": "nowhere"}, []),
    ],
)
def test_all_feed_filters(
    client: FlaskClient, actions: dict[str, str], query: dict[str, str], expected: list[str]
) -> None:
    query = {name: value.format(**actions) for name, value in query.items()}

    response, calendar = fetch(client, "/feeds/all.ics", query)

    assert summaries(calendar) == expected
    assert str(calendar["X-WR-CALNAME"]) == "Test instance: all actions"
    # SOURCE names this very feed, filters included: following it gives the same calendar.
    source = str(calendar["SOURCE"])
    assert source.startswith(BASE_URL + "/feeds/all.ics")
    assert client.get(source.removeprefix(BASE_URL)).data == response.data


@pytest.mark.parametrize(
    ("path", "name", "source", "expected"),
    [
        (
            "/feeds/cities/minneapolis.ics",
            "Actions in Minneapolis",
            "/feeds/cities/minneapolis.ics",
            ["mpls-march", "mpls-picket", "tenants-vigil"],
        ),
        (
            "/feeds/cities/chicago.ics",
            "Actions in Chicago",
            "/feeds/cities/chicago.ics",
            ["Cancelled: chi-rally"],
        ),
        (
            "/feeds/coalitions/mpls-tenants.ics",
            "Minneapolis Tenants Union",
            "/feeds/coalitions/mpls-tenants.ics",
            ["tenants-vigil"],
        ),
        (
            "/feeds/coalitions/minneapolis.ics",
            "Twin Cities Solidarity Coalition",
            "/feeds/coalitions/minneapolis.ics",
            ["mpls-march", "mpls-picket"],
        ),
        (
            "/feeds/campaigns/{campaign}.ics",
            "January 23 Day of Action",
            "/feeds/campaigns/{campaign}.ics",
            ["Cancelled: chi-rally", "mpls-march"],
        ),
        (
            "/feeds/tags/housing.ics",
            "Actions tagged housing",
            "/feeds/tags/housing.ics",
            ["mpls-picket", "tenants-vigil"],
        ),
        (
            "/feeds/tags/Day-Of-Action.ics",
            "Actions tagged day-of-action",
            "/feeds/tags/day-of-action.ics",
            ["Cancelled: chi-rally", "mpls-march"],
        ),
        ("/events/{event}.ics", "mpls-march", "/events/{event}.ics", ["mpls-march"]),
    ],
)
def test_each_feed_holds_its_actions(
    client: FlaskClient,
    actions: dict[str, str],
    path: str,
    name: str,
    source: str,
    expected: list[str],
) -> None:
    path, source = path.format(**actions), source.format(**actions)

    response, calendar = fetch(client, path)

    assert summaries(calendar) == expected
    # Apple and Google show NAME / X-WR-CALNAME as the subscribed calendar's title.
    assert str(calendar["NAME"]) == name
    assert str(calendar["X-WR-CALNAME"]) == name
    assert str(calendar["SOURCE"]) == BASE_URL + source
    assert client.get(source).data == response.data
    filename = path.rsplit("/", 1)[1] if "/events/" not in path else f"event-{actions['event']}.ics"
    if "/campaigns/" in path:
        filename = f"campaign-{actions['campaign']}.ics"
    assert response.headers["Content-Disposition"] == f'inline; filename="{filename}"'


@pytest.mark.usefixtures("actions")
@pytest.mark.parametrize(
    "path",
    [
        "/feeds/coalitions/atlantis.ics",
        "/feeds/cities/atlantis.ics",
        f"/feeds/campaigns/{uuid.uuid4()}.ics",
        f"/events/{uuid.uuid4()}.ics",
        "/feeds/atlantis.ics",
    ],
)
def test_unknown_feed_is_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.usefixtures("actions")
@pytest.mark.parametrize(
    "query",
    [{"kind": "party"}, {"campaign": "not-a-uuid"}, {"status": "postponed"}, {"tag": "a b"}],
)
def test_invalid_filter_is_a_client_error(client: FlaskClient, query: dict[str, str]) -> None:
    # Thunderbird disables a calendar that answers 5xx; a typo in a filter is the user's 4xx.
    assert client.get("/feeds/all.ics", query_string=query).status_code == 422


def test_deleted_coalition_feeds_are_410(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    make_event: Maker,
) -> None:
    make_coalition()
    campaign = make_campaign()
    event = publish(make_event, "march", campaign_id=campaign["id"])
    paths = [
        "/feeds/coalitions/minneapolis.ics",
        f"/feeds/campaigns/{campaign['id']}.ics",
        f"/events/{event['id']}.ics",
    ]
    for path in paths:
        fetch(client, path)

    assert client.delete("/api/v1/coalitions/minneapolis", headers=admin).status_code == 204

    # 410 tells a calendar app the subscription is over, where 404 may look like an outage.
    assert [client.get(path).status_code for path in paths] == [410, 410, 410]
    _, calendar = fetch(client, "/feeds/all.ics")
    assert events(calendar) == []


def test_deleted_campaign_feed_is_410_and_its_actions_stay(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    make_event: Maker,
) -> None:
    make_coalition()
    campaign = make_campaign()
    event = publish(make_event, "march", campaign_id=campaign["id"])

    response = client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=admin)

    assert response.status_code == 204
    assert client.get(f"/feeds/campaigns/{campaign['id']}.ics").status_code == 410
    _, calendar = fetch(client, "/feeds/coalitions/minneapolis.ics")
    assert uids(calendar) == {uid(event)}


# Window and cap


def test_feed_window_drops_actions_that_ended_over_30_days_ago(
    app: Flask, client: FlaskClient, make_coalition: Maker, make_event: Maker
) -> None:
    make_coalition()
    old = publish(make_event, "long ago", days=-32)
    publish(make_event, "last week", days=-7)
    publish(make_event, "next week", days=7)
    # A weekly picket that began two months ago and goes on is current, whatever its start.
    publish(make_event, "ongoing weekly", days=-60, rrule="FREQ=WEEKLY")
    # A series whose last night was ten weeks ago is as old as a single old event.
    publish(make_event, "finished weekly", days=-90, rrule="FREQ=WEEKLY;COUNT=3")

    _, calendar = fetch(client, "/feeds/all.ics")

    assert summaries(calendar) == ["last week", "next week", "ongoing weekly"]
    # An event's own .ics (linked from its page) still works however old the event.
    _, single = fetch(client, f"/events/{old['id']}.ics")
    assert uids(single) == {uid(old)}

    # The window is configurable: with 5 days, last week's action is gone too.
    app.config["FEDERATION_FEED_PAST_DAYS"] = 5
    _, calendar = fetch(client, "/feeds/all.ics")
    assert summaries(calendar) == ["next week", "ongoing weekly"]


def test_cap_keeps_the_soonest_actions_and_says_so(
    app: Flask, client: FlaskClient, make_coalition: Maker, make_event: Maker
) -> None:
    make_coalition()
    for days in (3, 1, 2):
        publish(make_event, f"in {days} days", days=days)
    app.config["FEDERATION_FEED_MAX_EVENTS"] = 2

    _, calendar = fetch(client, "/feeds/all.ics")

    assert summaries(calendar) == ["in 1 days", "in 2 days"]
    # Without the note a subscriber could not know actions are missing.
    description = str(calendar["X-WR-CALDESC"])
    assert "Showing only the first 2 actions" in description

    app.config["FEDERATION_FEED_MAX_EVENTS"] = 3
    _, calendar = fetch(client, "/feeds/all.ics")
    assert summaries(calendar) == ["in 1 days", "in 2 days", "in 3 days"]
    assert "Showing only" not in str(calendar["X-WR-CALDESC"])


# HTTP


@pytest.fixture
def feed(make_coalition: Maker, make_event: Maker) -> dict[str, Any]:
    """The Minneapolis coalition with one upcoming action; its feed is the path under test."""
    make_coalition()
    return publish(make_event, "March on the Capitol")


FEED = "/feeds/coalitions/minneapolis.ics"


def test_feed_headers(client: FlaskClient, feed: dict[str, Any]) -> None:
    response, _ = fetch(client, FEED)

    headers = response.headers
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    # `inline` lets a browser hand the file to the calendar app rather than save it.
    assert headers["Content-Disposition"] == 'inline; filename="minneapolis.ics"'
    assert headers["Cache-Control"] == "public, max-age=300"
    # Web calendars (and the members' pages' JavaScript) fetch feeds cross-origin.
    assert headers["Access-Control-Allow-Origin"] == "*"
    etag, weak = response.get_etag()
    assert etag
    assert not weak
    assert headers["ETag"] == f'"{etag}"'
    assert response.last_modified is not None
    updated = dt.datetime.fromisoformat(feed["updated_at"]).replace(microsecond=0)
    assert updated <= response.last_modified <= dt.datetime.now(dt.UTC)
    # Feeds are anonymous: nothing that could identify a subscriber.
    assert "Set-Cookie" not in headers


def test_feed_bytes_and_etag_are_stable(
    app: Flask, client: FlaskClient, feed: dict[str, Any]
) -> None:
    first = client.get(FEED)
    # A fresh cache: the second answer is rebuilt from the database, not replayed.
    app.extensions[CACHE_KEY] = FeedCache()

    second = client.get(FEED)

    # Stable bytes are what make the strong ETag (and 304s) work at all.
    assert second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"]


def test_dtstamp_is_the_last_change_not_the_request_time(
    app: Flask, client: FlaskClient, feed: dict[str, Any]
) -> None:
    changed = _backdate(app, feed["id"], days=7)

    _, calendar = fetch(client, FEED)

    event = events(calendar)[0]
    expected = changed.replace(microsecond=0)
    assert event["DTSTAMP"].dt == expected
    assert event["LAST-MODIFIED"].dt == expected
    assert event["CREATED"].dt == expected


def test_if_none_match_with_the_current_etag_is_304(
    client: FlaskClient, feed: dict[str, Any]
) -> None:
    first, _ = fetch(client, FEED)

    again = client.get(FEED, headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]


def test_if_modified_since_the_last_change_is_304(
    client: FlaskClient, feed: dict[str, Any]
) -> None:
    first, _ = fetch(client, FEED)

    again = client.get(FEED, headers={"If-Modified-Since": first.headers["Last-Modified"]})

    assert again.status_code == 304
    assert again.data == b""


def test_changed_feed_answers_old_validators_with_the_new_body(
    app: Flask, client: FlaskClient, admin: dict[str, str], feed: dict[str, Any]
) -> None:
    # The feed last changed an hour ago, so Last-Modified moves visibly with the edit below.
    with app.app_context():
        session = get_session()
        state = session.get(InstanceState, 1)
        assert state is not None
        state.changed_at -= dt.timedelta(hours=1)
        session.commit()
    first, _ = fetch(client, FEED)
    _edit(client, admin, feed, title="March moved to the river")

    by_etag = client.get(FEED, headers={"If-None-Match": first.headers["ETag"]})
    by_date = client.get(FEED, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    # Thunderbird sends both; the ETag decides (RFC 9110 13.1.3).
    by_both = client.get(
        FEED,
        headers={
            "If-None-Match": first.headers["ETag"],
            "If-Modified-Since": dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        },
    )

    for response in (by_etag, by_date, by_both):
        assert response.status_code == 200
        assert response.headers["ETag"] != first.headers["ETag"]
        calendar = check_feed(response.data)
        assert summaries(calendar) == ["March moved to the river"]


def test_head_has_the_headers_of_get_and_no_body(client: FlaskClient, feed: dict[str, Any]) -> None:
    got, _ = fetch(client, FEED)

    head = client.head(FEED)

    assert head.status_code == 200
    assert head.data == b""
    for name in FEED_HEADERS:
        assert head.headers.get(name) == got.headers[name], name
    assert int(head.headers["Content-Length"]) == len(got.data)
    conditional = client.head(FEED, headers={"If-None-Match": got.headers["ETag"]})
    assert conditional.status_code == 304


# Changes reaching subscribers


def test_edit_raises_sequence_and_moves_dtstamp_and_etag(
    app: Flask, client: FlaskClient, admin: dict[str, str], feed: dict[str, Any]
) -> None:
    created = _backdate(app, feed["id"], days=7).replace(microsecond=0)
    before, calendar = fetch(client, FEED)
    old = events(calendar)[0]
    assert old["SEQUENCE"] == 0

    edited = _edit(client, admin, feed, title="March moved to the river", location=None)

    after, calendar = fetch(client, FEED)
    new = events(calendar)[0]
    assert str(new["UID"]) == str(old["UID"]) == uid(feed)
    # Google may only re-read an event whose SEQUENCE moved.
    assert new["SEQUENCE"] == 1
    changed = dt.datetime.fromisoformat(edited["updated_at"]).replace(microsecond=0)
    assert new["DTSTAMP"].dt == new["LAST-MODIFIED"].dt == changed
    assert new["DTSTAMP"].dt > old["DTSTAMP"].dt
    assert new["CREATED"].dt == old["CREATED"].dt == created
    assert str(new["SUMMARY"]) == "March moved to the river"
    assert "LOCATION" not in new
    assert "GEO" not in new
    assert after.headers["ETag"] != before.headers["ETag"]


def test_cancelled_action_stays_marked_cancelled(
    client: FlaskClient, admin: dict[str, str], feed: dict[str, Any]
) -> None:
    _edit(client, admin, feed, status="cancelled")

    _, calendar = fetch(client, FEED)

    # Kept with STATUS:CANCELLED so calendars that already hold it strike or drop it.
    (event,) = events(calendar)
    assert str(event["UID"]) == uid(feed)
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 1
    assert str(event["SUMMARY"]) == "Cancelled: March on the Capitol"
    assert strict_ical(calendar.to_ical().decode()).events[0].status == "CANCELLED"

    _edit(client, admin, feed, status="confirmed")
    _, calendar = fetch(client, FEED)
    (event,) = events(calendar)
    assert event["STATUS"] == "CONFIRMED"
    assert event["SEQUENCE"] == 2
    assert str(event["SUMMARY"]) == "March on the Capitol"


def test_deleted_action_leaves_the_feed(
    client: FlaskClient, admin: dict[str, str], make_event: Maker, feed: dict[str, Any]
) -> None:
    other = publish(make_event, "Picket", days=8)
    before, calendar = fetch(client, FEED)
    assert uids(calendar) == {uid(feed), uid(other)}

    assert client.delete(f"/api/v1/events/{feed['id']}", headers=admin).status_code == 204

    after, calendar = fetch(client, FEED)
    assert uids(calendar) == {uid(other)}
    assert after.headers["ETag"] != before.headers["ETag"]
    assert client.get(f"/events/{feed['id']}.ics").status_code == 410


# Subscribe links


@pytest.mark.usefixtures("feed")
@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("/api/v1/coalitions/minneapolis", "/feeds/coalitions/minneapolis.ics"),
        ("/api/v1/cities/minneapolis", "/feeds/cities/minneapolis.ics"),
        ("/api/v1/campaigns/{campaign}", "/feeds/campaigns/{campaign}.ics"),
    ],
)
def test_subscribe_links_lead_to_the_feed(
    client: FlaskClient,
    admin: dict[str, str],
    make_campaign: Maker,
    resource: str,
    path: str,
) -> None:
    campaign = make_campaign()
    # The feed's action joins the campaign, so every one of the three feeds holds it.
    (action,) = client.get("/api/v1/events").json["items"]
    _edit(client, admin, action, campaign_id=campaign["id"])
    resource, path = resource.format(campaign=campaign["id"]), path.format(campaign=campaign["id"])

    body = client.get(resource).json

    assert body["feed_url"] == BASE_URL + path
    assert body["webcal_url"] == "webcal://federation.test" + path
    google = urlsplit(body["google_calendar_url"])
    assert (google.scheme, google.netloc, google.path) == (
        "https",
        "calendar.google.com",
        "/calendar/r",
    )
    assert parse_qs(google.query) == {"cid": [body["webcal_url"]]}
    assert google.query == "cid=" + quote(body["webcal_url"], safe="")
    # Following the link is what a calendar app does on subscribing.
    _, calendar = fetch(client, urlsplit(body["feed_url"]).path)
    assert uids(calendar) == {uid(action)}


# Time zones and DST


def test_parallel_action_in_three_zones_is_one_instant(
    client: FlaskClient, make_coalition: Maker, make_campaign: Maker, make_event: Maker
) -> None:
    zones = {
        "chicago": CHICAGO,
        "new-york": "America/New_York",
        "los-angeles": "America/Los_Angeles",
    }
    for slug, zone in zones.items():
        make_coalition(slug=slug, name=slug, city=slug, city_slug=slug, timezone=zone)
    campaign = make_campaign(coalition="chicago")
    instant = at(14, hour=17, zone="UTC")
    for slug, zone in zones.items():
        start = instant.astimezone(ZoneInfo(zone))
        make_event(
            slug,
            title=slug,
            starts_at=start.isoformat(),
            ends_at=(start + dt.timedelta(hours=2)).isoformat(),
            campaign_id=campaign["id"],
        )

    response, calendar = fetch(client, f"/feeds/campaigns/{campaign['id']}.ics")

    assert sorted(str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")) == sorted(zones.values())
    text = unfolded(response.data)
    for slug, zone in zones.items():
        dtstart = by_summary(calendar, slug)["DTSTART"]
        # Each in its own zone: members see their local time, organizers' wording matches.
        assert dtstart.params["TZID"] == zone
        assert dtstart.dt == instant
        assert dtstart.dt.utcoffset() == instant.astimezone(ZoneInfo(zone)).utcoffset()
        local = instant.astimezone(ZoneInfo(zone))
        assert f"DTSTART;TZID={zone}:{local:%Y%m%dT%H%M%S}\r\n" in text
    strict = strict_ical(response.data.decode())
    assert {event.dtstart for event in strict.events} == {instant}


def _second_sunday_of_march(year: int) -> dt.date:
    """Since 2007, US clocks go forward on the second Sunday of March."""
    sundays = [dt.date(year, 3, d) for d in range(1, 15) if dt.date(year, 3, d).weekday() == 6]
    return sundays[1]


def _wall_clock(
    moment: dt.datetime, zone: ZoneInfo
) -> tuple[dt.date, dt.time, dt.timedelta | None]:
    local = moment.astimezone(zone)
    return local.date(), local.time(), local.utcoffset()


@pytest.mark.parametrize("skipped", [None, 10])
def test_nightly_noise_demo_stays_at_7pm_across_dst(
    client: FlaskClient, make_coalition: Maker, make_event: Maker, skipped: int | None
) -> None:
    make_coalition(slug="chicago", name="Chicago", city="Chicago", city_slug="chicago")
    zone = ZoneInfo(CHICAGO)
    year = dt.date.today().year + 1
    first = dt.datetime(year, 3, 1, 19, tzinfo=zone)
    until = dt.datetime(year, 3, 20, 19, tzinfo=zone).astimezone(dt.UTC)
    exdates = [dt.datetime(year, 3, skipped, 19, tzinfo=zone)] if skipped else []
    make_event(
        "chicago",
        title="Nightly noise demo",
        kind="noise_demo",
        starts_at=first.isoformat(),
        ends_at=(first + dt.timedelta(hours=1)).isoformat(),
        rrule=f"FREQ=DAILY;UNTIL={until:%Y%m%dT%H%M%SZ}",
        exdates=[moment.isoformat() for moment in exdates],
    )
    nights = [dt.date(year, 3, day) for day in range(1, 21) if day != skipped]
    switch = _second_sunday_of_march(year)
    cst, cdt = dt.timedelta(hours=-6), dt.timedelta(hours=-5)
    expected = [(night, dt.time(19), cst if night < switch else cdt) for night in nights]

    response, calendar = fetch(client, "/feeds/cities/chicago.ics")

    text = unfolded(response.data)
    assert f"DTSTART;TZID={CHICAGO}:{year}0301T190000\r\n" in text
    assert f"RRULE:FREQ=DAILY;UNTIL={until:%Y%m%dT%H%M%SZ}\r\n" in text
    if skipped:
        assert f"EXDATE;TZID={CHICAGO}:{year}03{skipped:02}T190000\r\n" in text
    window = (dt.date(year, 2, 1), dt.date(year, 5, 1))
    occurrences = recurring_ical_events.of(calendar).between(*window)
    starts = sorted(occurrence["DTSTART"].dt for occurrence in occurrences)
    assert len(starts) == 20 - bool(skipped)
    assert [_wall_clock(start, zone) for start in starts] == expected

    timeline = strict_ical(response.data.decode()).timeline_tz(zone)
    strict_starts = [
        event.dtstart
        for event in timeline.overlapping(
            dt.datetime(year, 2, 1, tzinfo=zone), dt.datetime(year, 5, 1, tzinfo=zone)
        )
    ]
    assert [_wall_clock(start, zone) for start in strict_starts] == expected


def test_a_restored_backup_that_reuses_a_revision_number_is_not_served_from_the_cache(
    app: Flask, client: FlaskClient, feed: dict[str, Any]
) -> None:
    before = client.get(FEED)
    with app.app_context():
        session = get_session()
        revision = session.scalar(select(InstanceState.revision))
        block = session.scalar(select(Event.ical_block))
        assert block is not None
        # What a restore does, without the ORM's hooks: other content in the database under
        # the revision number this process has already cached (the restored counter comes
        # round to it again), changed at another time.
        session.execute(update(Event).values(ical_block=block.replace(b"SUMMARY:", b"SUMMARY:Re ")))
        session.execute(
            update(InstanceState).values(revision=revision, changed_at=dt.datetime.now(dt.UTC))
        )
        session.commit()

    after = client.get(FEED)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"SUMMARY:Re " in after.data
