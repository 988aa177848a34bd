"""Outputs are encoded for their format, whatever is stored: text an earlier version let in
(a line break in a coalition's name, a lone CR in a campaign title) is escaped in every feed,
a typed backslash-N stays text, GEO has no exponent, a non-ASCII file name travels as RFC 6266
`filename*`, and a feed address no tag can have is a 404."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import icalendar
import pytest
import requests
from conftest import Served, coalition_payload, event_payload
from flask import Flask
from flask.testing import FlaskClient
from ical_checks import by_summary, check_feed, events, fetch, strict_ical
from sqlalchemy import update

from federation.db import get_session
from federation.models import Campaign, Coalition

Maker = Callable[..., dict[str, Any]]
SOON = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def upcoming(**overrides: Any) -> dict[str, Any]:
    return {
        "starts_at": SOON.isoformat(),
        "ends_at": (SOON + dt.timedelta(hours=2)).isoformat(),
        **overrides,
    }


def store(app: Flask, model: type[Any], object_id: Any, **values: Any) -> None:
    """Write text as a version before the text policy could: under the API, not through it."""
    with app.app_context():
        session = get_session()
        session.execute(update(model).where(model.id == object_id).values(**values))
        session.commit()


def names(data: bytes, calendar: icalendar.Calendar) -> tuple[str, str, str]:
    """NAME as `ical` reads it (RFC 7986 TEXT), and X-WR-CALNAME and X-WR-CALDESC read as TEXT
    too (icalendar hands all three over as written)."""
    [name] = strict_ical(data.decode()).name or [""]
    return name, unescape(str(calendar["X-WR-CALNAME"])), unescape(str(calendar["X-WR-CALDESC"]))


def unescape(text: str) -> str:
    """RFC 5545 3.3.11's TEXT escapes undone, in one pass (so \\\\N is a backslash and N)."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], text)


def lines_split_on_cr(data: bytes) -> list[bytes]:
    """The body as a client that ends a line at any CR sees it."""
    return data.replace(b"\r\n", b"\r").split(b"\r")


FORGED = "Day of action\rEND:VEVENT\rBEGIN:VEVENT\rUID:forged\rSUMMARY:Forged\rEND:VEVENT\r"


def test_stored_line_breaks_in_calendar_names_are_escaped_in_every_feed(
    app: Flask, client: FlaskClient, make_coalition: Maker, make_event: Maker, make_campaign: Maker
) -> None:
    coalition = make_coalition()
    campaign = make_campaign()
    event = make_event(**upcoming(campaign_id=campaign["id"], title="March"))
    store(app, Coalition, uuid.UUID(coalition["id"]), name="Twin\nCities", city="Minne\r\napolis")
    store(app, Campaign, uuid.UUID(campaign["id"]), title=FORGED)

    feeds = {
        "/feeds/coalitions/minneapolis.ics": "Twin\nCities",
        "/feeds/cities/minneapolis.ics": "Actions in Minne\napolis",
        f"/feeds/campaigns/{campaign['id']}.ics": FORGED.replace("\r", "\n"),
        "/feeds/all.ics": "Test instance: all actions",
        f"/events/{event['id']}.ics": "March",
    }
    for path, name in feeds.items():
        response, calendar = fetch(client, path)  # 200, and valid for every parser
        assert names(response.data, calendar)[:2] == (name, name), path
        assert [str(e["UID"]) for e in events(calendar)] == [f"{event['id']}@federation.test"]
        # Nothing a client that splits on CR reads as a line of its own.
        split = lines_split_on_cr(response.data)
        assert split.count(b"BEGIN:VEVENT") == 1, path
        assert not any(line.startswith(b"UID:forged") for line in split), path
    response, calendar = fetch(client, "/feeds/coalitions/minneapolis.ics")
    assert names(response.data, calendar)[2] == "Actions of Twin\nCities (Minne\napolis)."


def test_a_typed_backslash_n_stays_text_in_events_and_calendar_names(
    client: FlaskClient, make_coalition: Maker, make_event: Maker, admin: dict[str, str]
) -> None:
    make_coalition(name="C:\\New coalition, \\n and \\N")
    title = "Meet at C:\\Notes\\N; bring \\ and \\\\N"
    description = "Type \\N for a new line,\nor a real one; \\n is text too."
    event = make_event(**upcoming(title=title, description=description))

    for path in ("/feeds/coalitions/minneapolis.ics", f"/events/{event['id']}.ics"):
        response, calendar = fetch(client, path)
        vevent = by_summary(calendar, title)
        assert str(vevent["DESCRIPTION"]).startswith(description + "\n\n")
        (strict,) = strict_ical(response.data.decode()).events
        assert strict.summary == title
        assert strict.description is not None
        assert strict.description.startswith(description)
    response, calendar = fetch(client, "/feeds/coalitions/minneapolis.ics")
    name = "C:\\New coalition, \\n and \\N"
    assert names(response.data, calendar) == (name, name, f"Actions of {name} (Minneapolis).")


def test_control_characters_stored_in_a_calendar_name_are_dropped(
    app: Flask, client: FlaskClient, make_coalition: Maker, make_event: Maker
) -> None:
    coalition = make_coalition()
    make_event(**upcoming())
    store(app, Coalition, uuid.UUID(coalition["id"]), name="Twin\x1b[31m Cities\x7f\x85\x0b")

    response, calendar = fetch(client, "/feeds/coalitions/minneapolis.ics")

    assert names(response.data, calendar)[:2] == ("Twin[31m Cities", "Twin[31m Cities")


@pytest.mark.parametrize(
    ("latitude", "longitude", "written"),
    [
        (1e-05, -1e-05, "0.00001;-0.00001"),
        (44.9553, -93.1022, "44.9553;-93.1022"),
        (5e-324, 180, "0.0;180.0"),
        (-89.123456789, 0.0000004, "-89.123457;0.0"),
    ],
)
def test_geo_is_plain_decimal_never_an_exponent(
    client: FlaskClient,
    make_coalition: Maker,
    make_event: Maker,
    latitude: float,
    longitude: float,
    written: str,
) -> None:
    make_coalition()
    location = {"name": "Capitol", "latitude": latitude, "longitude": longitude}
    event = make_event(**upcoming(location=location))

    response, calendar = fetch(client, f"/events/{event['id']}.ics")

    assert f"\r\nGEO:{written}\r\n".encode() in response.data
    (strict,) = strict_ical(response.data.decode()).events
    assert strict.geo is not None
    expected = [float(value) for value in written.split(";")]
    assert [strict.geo.lat, strict.geo.lng] == expected
    assert [events(calendar)[0]["GEO"].latitude, events(calendar)[0]["GEO"].longitude] == expected


def filename_star(header: str) -> str:
    found = re.search(r"filename\*=UTF-8''([^;\s]+)", header)
    assert found is not None, header
    return unquote(found.group(1), errors="strict")


@pytest.mark.parametrize(("tag", "fallback"), [("東京", "feed.ics"), ("huelga-général", None)])
def test_a_non_ascii_tag_feed_names_its_file_by_rfc_6266(
    client: FlaskClient, make_coalition: Maker, make_event: Maker, tag: str, fallback: str | None
) -> None:
    make_coalition()
    make_event(**upcoming(title="Tagged", tags=[tag]))

    response, calendar = fetch(client, f"/feeds/tags/{quote(tag)}.ics")

    header = response.headers["Content-Disposition"]
    header.encode("ascii")  # what a Latin-1 header line can carry, and then some
    assert header.startswith('inline; filename="')
    assert filename_star(header) == f"{tag}.ics"
    if fallback:
        assert f'filename="{fallback}"' in header
    assert [str(e["SUMMARY"]) for e in events(calendar)] == ["Tagged"]


@pytest.mark.parametrize(
    "tag",
    ["a%0Ab", "a%0D", "%00", "a%09b", "%1B", "%FF", "%E2%80%AE", "a%20b", "%F0%9F%98%80", "x" * 41],
)
def test_a_tag_feed_address_no_tag_can_have_is_404(client: FlaskClient, tag: str) -> None:
    response = client.get(f"/feeds/tags/{tag}.ics")

    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.json["code"] == 404


def test_under_gunicorn_a_non_ascii_tag_feed_is_served(served: Served) -> None:
    # The test client hands headers over as Python strings; gunicorn writes them as Latin-1,
    # where a raw "東京.ics" in Content-Disposition was a 500.
    coalition = coalition_payload(slug="tokyo-solidarity", city="Tokyo", city_slug="tokyo")
    created = requests.post(
        f"{served.base}/api/v1/coalitions",
        json={**coalition, "timezone": "Asia/Tokyo"},
        headers=served.admin,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    event = event_payload(**upcoming(title="Rally", tags=["東京"]))
    published = requests.post(
        f"{served.base}/api/v1/coalitions/tokyo-solidarity/events",
        json=event,
        headers=served.admin,
        timeout=10,
    )
    assert published.status_code == 201, published.text

    response = requests.get(f"{served.base}/feeds/tags/{quote('東京')}.ics", timeout=10)

    assert response.status_code == 200
    assert filename_star(response.headers["Content-Disposition"]) == "東京.ics"
    assert [str(e["SUMMARY"]) for e in events(check_feed(response.content))] == ["Rally"]
    for tag in ("a%0Ab", "%00", "%E2%80%AE"):
        assert requests.get(f"{served.base}/feeds/tags/{tag}.ics", timeout=10).status_code == 404
