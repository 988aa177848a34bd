"""Members' pages through the test client: content, HTML validity, privacy, languages."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import html5lib
import pytest
from flask import Flask
from flask.testing import FlaskClient

from federation import i18n
from federation.db import get_session
from federation.demo import load_demo_data
from federation.models import Campaign, Event
from federation.services import pages as pages_service

# Anchors users follow on purpose may leave the instance: the Google Calendar subscribe link
# and links organizers wrote (an online meeting, a coalition's website). Nothing is *loaded*
# from elsewhere: no script, style, font, image or form target.
ALLOWED_LINK_HOSTS = {"calendar.google.com", "example.org", "meet.example.org"}


@pytest.fixture
def demo(app: Flask) -> dict[str, Any]:
    with app.app_context():
        session = get_session()
        load_demo_data(session, origin=app.config["FEDERATION_BASE_URL"])
        session.commit()
        campaign = session.query(Campaign).one()
        events = {e.title: str(e.id) for e in session.query(Event)}
        return {"campaign": str(campaign.id), "events": events}


def pages(demo: dict[str, Any]) -> list[str]:
    march = demo["events"]["March on the Capitol"]
    return [
        "/",
        "/?city=minneapolis&kind=march",
        "/cities/minneapolis",
        "/coalitions/new-york",
        f"/campaigns/{demo['campaign']}",
        f"/events/{march}",
        "/?lang=es",
        "/coalitions/nobody",
    ]


class References(HTMLParser):
    """Every URL a page refers to, by tag and attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"href", "src", "action", "srcset", "poster", "data"} and value:
                self.found.append((tag, name, value))


def external(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in {"", "geo", "webcal"} and parts.netloc in {"", "federation.test"}:
        return None
    if parts.scheme in {"http", "https"} and parts.netloc == "federation.test":
        return None
    return parts.netloc or parts.scheme


def test_every_page_is_valid_html(client: FlaskClient, demo: dict[str, Any]):
    parser = html5lib.HTMLParser(strict=True)
    for path in pages(demo):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert response.content_type == "text/html; charset=utf-8"
        parser.parse(response.data)  # raises on any parse error
        text = response.get_data(as_text=True)
        assert re.search(r'<html lang="(en|es)">', text), path
        ids = re.findall(r'\sid="([^"]+)"', text)
        assert len(ids) == len(set(ids)), f"duplicate ids on {path}"
        for field_id in re.findall(r'<(?:select|input)[^>]*\sid="([^"]+)"', text):
            assert f'for="{field_id}"' in text, f"unlabelled field {field_id} on {path}"


def test_no_page_loads_anything_from_another_host(client: FlaskClient, demo: dict[str, Any]):
    for path in pages(demo):
        refs = References()
        refs.feed(client.get(path).get_data(as_text=True))
        assert refs.found, path
        for tag, attribute, url in refs.found:
            host = external(url)
            if host is None:
                continue
            assert tag == "a", f"{path}: <{tag} {attribute}> loads {url}"
            assert host in ALLOWED_LINK_HOSTS, f"{path}: link to {url}"
    with client.get("/static/style.css") as response:
        css = response.get_data(as_text=True)
    assert "url(" not in css
    assert "@import" not in css


def test_pages_set_no_cookies(client: FlaskClient, demo: dict[str, Any]):
    for path in pages(demo):
        assert "Set-Cookie" not in client.get(path).headers, path


def test_campaign_page_lists_parallel_actions_city_by_city_in_local_time(
    client: FlaskClient, demo: dict[str, Any]
):
    text = client.get(f"/campaigns/{demo['campaign']}").get_data(as_text=True)
    # The three marches start at the same instant: noon in Minneapolis.
    assert re.search(r"<h3[^>]*>Los Angeles</h3>.*?10:00 AM PST", text, re.S)
    assert re.search(r"<h3[^>]*>Minneapolis</h3>.*?12:00 PM CST", text, re.S)
    assert re.search(r"<h3[^>]*>New York</h3>.*?1:00 PM EST", text, re.S)
    assert text.index(">Los Angeles<") < text.index(">Minneapolis<") < text.index(">New York<")
    assert "On strike" in text
    assert "SEIU Local 26" in text
    assert "In solidarity" in text
    assert "Minnesota Nurses Association" in text
    assert "/feeds/campaigns/" in text
    assert "webcal://federation.test/feeds/campaigns/" in text


def test_home_groups_by_day_and_filters(client: FlaskClient, demo: dict[str, Any]):
    text = client.get("/").get_data(as_text=True)
    for title in ("March on the Capitol", "Solidarity rally at Foley Square", "Nightly noise"):
        assert title in text
    days = re.findall(r'<h2 id="day-(\d{4}-\d{2}-\d{2})">', text)
    assert days == sorted(days)
    assert len(days) >= 2
    only_la = client.get("/?city=los-angeles").get_data(as_text=True)
    assert "March from MacArthur Park" in only_la
    assert "March on the Capitol" not in only_la
    assert 'href="webcal://federation.test/feeds/all.ics?city=los-angeles"' in only_la


def test_home_lists_the_next_occurrence_of_each_action_and_says_where_it_cuts(
    client: FlaskClient,
    make_coalition: Any,
    make_event: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    """A nightly series begun long ago shows tonight, between today's other actions; when the
    list is cut, the page says so and links to the rest, which starts where it stopped."""
    monkeypatch.setattr(pages_service, "PAGE_LIMIT", 3)
    make_coalition()
    today = dt.datetime.now(dt.UTC).date()

    def at(days: int, hour: int) -> str:
        return f"{today + dt.timedelta(days=days)}T{hour:02}:00:00+00:00"

    make_event(title="Old nightly", starts_at="2016-03-01T01:00:00+00:00",
               ends_at="2016-03-01T02:00:00+00:00", rrule="FREQ=DAILY")  # fmt: skip
    for day in (2, 3, 4, 5):
        make_event(title=f"Rally {day}", starts_at=at(day, 15), ends_at=at(day, 17))

    first = client.get("/").get_data(as_text=True)
    html5lib.HTMLParser(strict=True).parse(first)
    assert re.findall(r">(Old nightly|Rally \d)</a>", first) == [
        "Old nightly",
        "Rally 2",
        "Rally 3",
    ]
    assert "This list shows only the next 3 actions." in first
    more = re.search(
        r'<p class="more">.*?<a href="([^"]+)">Later actions, from ([^<]+)</a>', first, re.S
    )
    assert more, first
    assert more.group(2) == i18n.format_day("en", today + dt.timedelta(days=4))
    rest = client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r">(Old nightly|Rally \d)</a>", rest) == ["Rally 4", "Old nightly", "Rally 5"]
    assert "This list shows only" not in client.get("/?city=nowhere").get_data(as_text=True)
    spanish = client.get("/?lang=es").get_data(as_text=True)
    assert "Esta lista muestra solo las próximas 3 acciones." in spanish


def json_ld(text: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', text, re.S)
    assert match, "no JSON-LD"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_event_page_has_schema_org_event_and_open_graph(
    client: FlaskClient, demo: dict[str, Any], admin: dict[str, str]
):
    event_id = demo["events"]["March on the Capitol"]
    text = client.get(f"/events/{event_id}").get_data(as_text=True)
    data = json_ld(text)
    assert data["@type"] == "Event"
    assert data["eventStatus"] == "https://schema.org/EventScheduled"
    assert data["startDate"].endswith("T12:00:00-06:00")
    assert data["location"]["name"] == "Minnesota State Capitol"
    assert data["location"]["geo"]["latitude"] == pytest.approx(44.9553)
    assert data["organizer"]["name"] == "Twin Cities Solidarity Coalition"
    assert '<meta property="og:title" content="March on the Capitol">' in text
    assert f'href="/events/{event_id}.ics"' in text

    cancelled = client.patch(
        f"/api/v1/events/{event_id}", json={"status": "cancelled"}, headers=admin
    )
    assert cancelled.status_code == 200
    text = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert json_ld(text)["eventStatus"] == "https://schema.org/EventCancelled"
    assert "This action is cancelled. Do not go." in text
    assert 'content="Cancelled: March on the Capitol"' in text


def test_json_ld_cannot_be_broken_out_of(client: FlaskClient, make_coalition: Any, make_event: Any):
    make_coalition()
    event = make_event(title="</script><script>alert(1)</script>")
    text = client.get(f"/events/{event['id']}").get_data(as_text=True)
    assert "<script>alert(1)" not in text
    assert json_ld(text)["name"] == "</script><script>alert(1)</script>"


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}, "", "Próximas acciones"),
        ({"Accept-Language": "en-US"}, "", "Upcoming actions"),
        ({"Accept-Language": "es"}, "?lang=en", "Upcoming actions"),
        ({}, "?lang=es", "Próximas acciones"),
        ({"Accept-Language": "fr"}, "", "Upcoming actions"),
    ],
)
def test_language_from_accept_language_or_switch(
    client: FlaskClient, demo: dict[str, Any], headers: dict[str, str], query: str, expected: str
):
    text = client.get("/" + query, headers=headers).get_data(as_text=True)
    assert f"<h1>{expected}</h1>" in text


def test_event_text_is_shown_as_written_in_spanish_chrome(
    client: FlaskClient, demo: dict[str, Any]
):
    event_id = demo["events"]["March on the Capitol"]
    text = client.get(f"/events/{event_id}?lang=es").get_data(as_text=True)
    assert "Cuándo" in text
    assert "sábado, 23 de enero" in text
    assert "March on the Capitol" in text  # not translated


def test_unknown_and_deleted_pages_are_html_404_and_410(
    client: FlaskClient, demo: dict[str, Any], admin: dict[str, str]
):
    missing = client.get("/coalitions/nobody")
    assert missing.status_code == 404
    assert missing.content_type.startswith("text/html")
    event_id = demo["events"]["Solidarity rally at Foley Square"]
    assert client.delete(f"/api/v1/events/{event_id}", headers=admin).status_code == 204
    gone = client.get(f"/events/{event_id}")
    assert gone.status_code == 410
    assert "This was deleted." in gone.get_data(as_text=True)


def _all_pages_in_both_languages(demo: dict[str, Any]) -> Iterator[str]:
    for path in pages(demo):
        yield path
        yield path + ("&" if "?" in path else "?") + "lang=es"


def test_spanish_pages_are_valid_too(client: FlaskClient, demo: dict[str, Any]):
    parser = html5lib.HTMLParser(strict=True)
    for path in _all_pages_in_both_languages(demo):
        parser.parse(client.get(path).data)


class Anchors(HTMLParser):
    """Every link of a page with its attributes, and the filter form's hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in values:
            self.links.append(values)
        if tag == "input" and values.get("type") == "hidden":
            self.hidden[values["name"]] = values["value"]


def anchors(text: str) -> Anchors:
    parser = Anchors()
    parser.feed(text)
    return parser


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_pages_forbid_anything_from_another_origin_and_send_no_referrer(
    client: FlaskClient, demo: dict[str, Any]
):
    for path in _all_pages_in_both_languages(demo):
        response = client.get(path)
        policy = csp_directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"], path
        assert policy["style-src"] == ["'self'"], path  # the stylesheet, nothing inline
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["base-uri"] == ["'none'"], path
        assert policy["form-action"] == ["'self'"], path
        assert "script-src" not in policy, path  # the JSON-LD is data, not a script
        for name, sources in policy.items():
            assert set(sources) <= {"'none'", "'self'"}, (path, name, sources)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        # The language follows Accept-Language: a shared cache must not serve one to the other.
        assert "Accept-Language" in response.vary, path


def test_links_to_other_hosts_open_without_opener_or_referrer(
    client: FlaskClient, make_coalition: Any, make_event: Any
):
    coalition = make_coalition(website="https://example.org/mpls")
    event = make_event(online_url="https://meet.example.org/march")
    checked = set()
    for path in ("/", f"/coalitions/{coalition['slug']}", f"/events/{event['id']}"):
        for link in anchors(client.get(path).get_data(as_text=True)).links:
            host = external(link["href"])
            if host is None or urlsplit(link["href"]).scheme not in {"http", "https"}:
                continue
            assert {"noopener", "noreferrer"} <= set(link.get("rel", "").split()), (path, link)
            checked.add(host)
    assert checked == {"calendar.google.com", "example.org", "meet.example.org"}


def _page_links(text: str) -> list[str]:
    """Links from this page to another page of the instance (not the language switch)."""
    return [
        link["href"]
        for link in anchors(text).links
        if link["href"].startswith("/") and "hreflang" not in link
        if not link["href"].startswith("/static/") and not link["href"].endswith(".ics")
    ]


@pytest.mark.parametrize(
    ("accept", "asked", "heading"),
    [(None, "es", "Próximas acciones"), ("es", "en", "Upcoming actions")],
)
def test_the_chosen_language_survives_the_next_click(
    client: FlaskClient, demo: dict[str, Any], accept: str | None, asked: str, heading: str
):
    headers = {"Accept-Language": accept} if accept else {}
    text = client.get(f"/?lang={asked}", headers=headers).get_data(as_text=True)
    links = _page_links(text)
    assert len(links) > 5
    for href in links:
        assert parse_qs(urlsplit(href).query)["lang"] == [asked], href
    # The filter form carries it too.
    assert anchors(text).hidden == {"lang": asked}
    filtered = client.get(f"/?city=minneapolis&lang={asked}", headers=headers)
    assert f"<h1>{heading}</h1>" in filtered.get_data(as_text=True)
    march = next(href for href in _page_links(text) if href.startswith("/events/"))
    followed = client.get(march, headers=headers).get_data(as_text=True)
    assert f'<html lang="{asked}">' in followed
    assert all("lang=" + asked in href for href in _page_links(followed))


def test_links_carry_no_language_nobody_chose(client: FlaskClient, demo: dict[str, Any]):
    text = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "<h1>Próximas acciones</h1>" in text
    assert _page_links(text)
    assert all("lang=" not in href for href in _page_links(text))
    assert anchors(text).hidden == {}
