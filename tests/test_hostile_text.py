"""Hostile text, drawn by hypothesis, for every text field: the API answers 201 or 422 (never a
500), and whatever it accepts stays valid in every output that carries it, for a strict reader
of each format: the JSON, the calendar feeds (icalendar and `ical`), the pages (html5lib), the
signed envelope, and a second instance's ingest of that envelope.

Each example runs in its own rolled-back transaction on both instances. The example count is
modest and the draw derandomized, so that the test takes about a minute per backend and fails
the same way on every run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import html5lib
import pytest
from conftest import campaign_payload, coalition_payload, event_payload
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ical_checks import check_feed, events, strict_ical
from sqlalchemy import Engine, select

from federation import create_app
from federation.db import get_database, get_session, make_engine
from federation.migrate import upgrade
from federation.models import Peer, QuarantinedObject
from federation.services.auth import mint_token
from federation.sync.ingest import Ingest

FIRST = "http://federation.test"
SECOND = "http://second.test"

# What a hostile client sends. Refused somewhere: line breaks of every kind, tabs, C0 and C1
# controls, DEL, NUL, lone surrogates, a noncharacter. Allowed, and hard on every output: bidi
# overrides and isolates, combining marks, 4-byte emoji and ZWJ sequences (which a 75-octet fold
# must not split), backslash sequences TEXT escaping must keep, markup, quotes, separators.
REFUSED = [
    "\x00", "\r", "\r\n", "\n", "\t", "\x0b", "\x1b", "\x7f", "\x85", "\u2028",
    "\ud800", "\udfff", "\ufffe",
]  # fmt: skip
ALLOWED = [
    "\u202e", "\u202d", "\u2066", "\u2069", "\u200f", "\u0301", "e\u0336", "\u20dd",
    "\u270a\U0001f3fd", "\U0001f600", "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\U0001d54f", "\\N", "\\n", "\\", "\\\\", "\\,", "\\;", ",", ";", ":", "^", '"', "'",
    "<b>", "&amp;", "</script>", "]]>", " ", "\u00e9", "\u6771\u4eac", "x",
]  # fmt: skip


# In descriptions and calls to action, line breaks (LF) and tabs are allowed too.
MULTI_LINE = ["\n", "\t", "\n\n", "\\\n"]


def hostile(salt: int, *, multiline: bool) -> st.SearchStrategy[str]:
    """Plain letters (so that what follows lands at every fold position), then pieces: only
    allowed ones half of the time, so that much of what is drawn is accepted and rendered.

    Every field draws the same choices (derandomized): `salt` rotates the lists and shifts the
    padding, so that the same choices make other text for each field."""

    def rotated(pieces: list[str]) -> list[str]:
        return pieces[salt % len(pieces) :] + pieces[: salt % len(pieces)]

    allowed = rotated(ALLOWED + MULTI_LINE if multiline else ALLOWED)
    refused = rotated([r for r in REFUSED if not multiline or r not in MULTI_LINE])
    pieces = st.one_of(
        st.lists(st.sampled_from(allowed), min_size=1, max_size=10),
        st.lists(st.sampled_from(allowed) | st.sampled_from(refused), min_size=1, max_size=10),
    )
    pad = st.integers(0, 80).map(lambda n: "a" * ((n + 13 * salt) % 81))
    return st.builds(lambda start, parts: start + "".join(parts), pad, pieces)


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Field:
    target: str  # coalition, campaign, event, endorsement, peer, token
    path: Path
    prefix: str = ""  # a valid start for fields with a pattern: what follows must not break it
    editable: bool = True
    multiline: bool = False

    @property
    def name(self) -> str:
        return f"{self.target}.{'.'.join(map(str, self.path))}"


FIELDS = [
    Field("coalition", ("name",)),
    Field("coalition", ("city",)),
    Field("coalition", ("description",), multiline=True),
    Field("coalition", ("member_organizations", 0, "name")),
    Field("coalition", ("website",), "https://example.org/"),
    Field("coalition", ("city_slug",), "minneapolis"),
    Field("campaign", ("title",)),
    Field("campaign", ("description",), multiline=True),
    Field("campaign", ("call_to_action",), multiline=True),
    Field("event", ("title",)),
    Field("event", ("description",), multiline=True),
    Field("event", ("location", "name")),
    Field("event", ("location", "address")),
    Field("event", ("online_url",), "https://meet.example.org/"),
    Field("event", ("tags", 0), "strike"),
    Field("event", ("language",), "en"),
    Field("event", ("rrule",), "FREQ=DAILY;COUNT=2"),
    Field("endorsement", ("organization",), editable=False),
    Field("peer", ("url",), "https://nyc.example.org", editable=False),
    Field("token", ("label",), editable=False),
]


# About a minute per backend for all the fields, on a 2-core machine.
EXAMPLES_PER_FIELD = 20


def with_value(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    target: Any = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def strict_json(data: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


class Instance:
    """An app on a database of its own, each example in a transaction rolled back after it."""

    def __init__(self, url: str, origin: str) -> None:
        self.app = create_app(
            {
                "TESTING": True,
                "FEDERATION_DATABASE_URL": url,
                "FEDERATION_BASE_URL": origin,
                "FEDERATION_INSTANCE_NAME": origin,
            }
        )
        self.engine: Engine = make_engine(url)
        self.client: FlaskClient = self.app.test_client()

    @contextlib.contextmanager
    def example(self) -> Iterator[None]:
        connection = self.engine.connect()
        outer = connection.begin()
        get_database(self.app).sessionmaker.configure(
            bind=connection, join_transaction_mode="create_savepoint"
        )
        try:
            yield
        finally:
            outer.rollback()
            connection.close()

    def close(self) -> None:
        get_database(self.app).engine.dispose()
        self.engine.dispose()


@pytest.fixture(scope="module")
def instances(database_url: str, fresh_database_url: Any) -> Iterator[tuple[Instance, Instance]]:
    second_url = fresh_database_url()
    upgrade(second_url)
    first, second = Instance(database_url, FIRST), Instance(second_url, SECOND)
    yield first, second
    first.close()
    second.close()


def post(client: FlaskClient, url: str, body: Any, headers: dict[str, str]) -> Any:
    # Real bytes: a lone surrogate travels as the JSON escape \ud800, as a client would send it.
    raw = json.dumps(body).encode("ascii")
    return client.post(url, data=raw, content_type="application/json", headers=headers)


def patch(client: FlaskClient, url: str, body: Any, headers: dict[str, str]) -> Any:
    raw = json.dumps(body).encode("ascii")
    return client.patch(url, data=raw, content_type="application/json", headers=headers)


def refused_at(response: Any, path: Path) -> None:
    """A 422 in flask-smorest's shape naming the field (and only it)."""
    data = strict_json(response.data)
    assert (data["code"], data["status"]) == (422, "Unprocessable Entity"), data
    node = data["errors"]["json"]
    assert list(node) == [path[0]], node
    for key in path:
        node = node[str(key)]
    assert isinstance(node, list)
    assert node
    assert all(isinstance(message, str) and message for message in node)


@pytest.mark.parametrize("field", FIELDS, ids=[field.name for field in FIELDS])
def test_hostile_text_is_refused_or_stays_valid_everywhere(
    instances: tuple[Instance, Instance], field: Field
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_FIELD,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(text=hostile(FIELDS.index(field), multiline=field.multiline), edit=st.booleans())
    def check(text: str, edit: bool) -> None:
        first, second = instances
        with first.example(), second.example():
            check_example(first, second, field, field.prefix + text, edit and field.editable)

    check()


def check_example(first: Instance, second: Instance, field: Field, value: str, edit: bool) -> None:
    client = first.client
    with first.app.app_context():
        session = get_session()
        admin = {"Authorization": f"Bearer {mint_token(session, label='admin').token}"}
        session.commit()
    created: dict[str, dict[str, Any]] = {}

    def write(target: str, url: str, body: dict[str, Any]) -> bool:
        """Create the object, with the hostile value if it is this field's; False if refused."""
        hostile_here = field.target == target and not edit
        response = post(
            client, url, with_value(body, field.path, value) if hostile_here else body, admin
        )
        if hostile_here and response.status_code == 422:
            refused_at(response, field.path)
            return False
        assert response.status_code == 201, (target, response.data)
        created[target] = strict_json(response.data)
        return True

    steps = [
        ("coalition", "/api/v1/coalitions", coalition_payload()),
        ("campaign", "/api/v1/campaigns", campaign_payload()),
        ("event", "/api/v1/coalitions/minneapolis/events", event_payload(tags=["strike"])),
    ]
    for target, url, body in steps:
        if not write(target, url, body):
            return
    campaign_id, event_id = created["campaign"]["id"], created["event"]["id"]
    # The event joins the day of action, so that the campaign's feed carries it too.
    joined = patch(client, f"/api/v1/events/{event_id}", {"campaign_id": campaign_id}, admin)
    assert joined.status_code == 200, joined.data
    endorsement = {"organization": "Nurses United", "level": "strike", "coalition": "minneapolis"}
    if not write("endorsement", f"/api/v1/campaigns/{campaign_id}/endorsements", endorsement):
        return
    if field.target in ("peer", "token"):
        url = {"peer": "/api/v1/peers", "token": "/api/v1/coalitions/minneapolis/tokens"}
        body = {"peer": {"url": "https://nyc.example.org"}, "token": {"label": "phone"}}
        write(field.target, url[field.target], body[field.target])
        return  # shown only in admins' JSON, which strict_json has read
    if edit:
        urls = {
            "coalition": "/api/v1/coalitions/minneapolis",
            "campaign": f"/api/v1/campaigns/{campaign_id}",
            "event": f"/api/v1/events/{event_id}",
        }
        whole = {
            "coalition": coalition_payload(),
            "campaign": campaign_payload(),
            "event": event_payload(tags=["strike"]),
        }[field.target]
        changes = {field.path[0]: with_value(whole, field.path, value)[field.path[0]]}
        response = patch(client, urls[field.target], changes, admin)
        if response.status_code == 422:
            refused_at(response, field.path)
            return
        assert response.status_code == 200, response.data

    accepted = shown(client, field, created, campaign_id, event_id)
    if field.path[0] not in ("tags", "rrule"):  # normalized: lowercased, uppercased, stripped
        assert accepted == value  # stored and shown as sent
    city = strict_json(client.get("/api/v1/coalitions/minneapolis").data)["city_slug"]
    check_feeds(client, field, accepted, city, campaign_id, event_id)
    check_pages(client, city, campaign_id, event_id)
    check_ingest(first, second, created, field, accepted)


def shown(
    client: FlaskClient, field: Field, created: dict[str, Any], campaign_id: str, event_id: str
) -> Any:
    """The value as the API shows it now (read back, strictly parsed)."""
    urls = {
        "coalition": "/api/v1/coalitions/minneapolis",
        "campaign": f"/api/v1/campaigns/{campaign_id}",
        "event": f"/api/v1/events/{event_id}",
        "endorsement": f"/api/v1/campaigns/{campaign_id}/endorsements",
    }
    response = client.get(urls[field.target])
    assert response.status_code == 200
    node: Any = strict_json(response.data)
    if field.target == "endorsement":
        node = node["items"][0]
    for key in field.path:
        node = node[key]
    return node


def check_feeds(
    client: FlaskClient, field: Field, value: Any, city: str, campaign_id: str, event_id: str
) -> None:
    tag = value if field.path == ("tags", 0) else "strike"
    for path in (
        f"/events/{event_id}.ics",
        "/feeds/coalitions/minneapolis.ics",
        f"/feeds/cities/{city}.ics",
        f"/feeds/campaigns/{campaign_id}.ics",
        f"/feeds/tags/{quote(tag)}.ics",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.data)
        calendar = check_feed(response.data)  # CRLF, 75 octets, icalendar, ical, expansion
        [vevent] = events(calendar)
        [strict] = strict_ical(response.data.decode()).events
        texts = {
            ("event", "title"): (str(vevent["SUMMARY"]), strict.summary),
            ("event", "description"): (str(vevent["DESCRIPTION"]), strict.description),
            ("event", "location"): (str(vevent.get("LOCATION", "")), strict.location or ""),
        }
        read = texts.get((field.target, str(field.path[0])))
        for text in read or ():
            # Every reader gets back the text: a title exactly, a description (stripped, then
            # followed by links) and a place (name, address) within what it reads.
            if field.path == ("title",):
                assert text == value, (path, value, text)
            assert value.strip() in (text or ""), (path, value, text)
        if field.target in ("coalition", "campaign") and field.path[0] in ("name", "title"):
            [name] = strict_ical(response.data.decode()).name or [""]
            if path in ("/feeds/coalitions/minneapolis.ics", f"/feeds/campaigns/{campaign_id}.ics"):
                owner = "coalition" if "coalitions" in path else "campaign"
                if owner == field.target:
                    assert name == value


PARSER = html5lib.HTMLParser(strict=True)


def check_pages(client: FlaskClient, city: str, campaign_id: str, event_id: str) -> None:
    for path in (
        f"/events/{event_id}",
        "/coalitions/minneapolis",
        f"/campaigns/{campaign_id}",
        f"/cities/{city}",
        "/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        PARSER.parse(response.data)  # raises on any parse error


def check_ingest(
    first: Instance, second: Instance, created: dict[str, Any], field: Field, value: Any
) -> None:
    """Our signed envelopes, read by another instance as it pulls from us: all applied."""
    discovery = strict_json(first.client.get("/.well-known/solidarity-federation").data)
    envelopes = []
    for target in ("coalition", "campaign", "endorsement", "event"):
        response = first.client.get(f"/federation/v1/objects/{created[target]['id']}")
        assert response.status_code == 200
        envelopes.append(strict_json(response.data))
    with second.app.app_context():
        session = get_session()
        peer = Peer(url=FIRST, relay=False)
        session.add(peer)
        session.commit()
        ingest = Ingest(session, peer, own_origin=SECOND, discover=lambda _origin: discovery)
        ingest.apply_page(envelopes, listed=False)
        session.commit()
        refused = [(q.kind, q.reason) for q in session.scalars(select(QuarantinedObject))]
        assert refused == []
        assert ingest.counts["applied"] == 4
    urls = {
        "coalition": "/api/v1/coalitions/minneapolis-federation-test",
        "campaign": f"/api/v1/campaigns/{created['campaign']['id']}",
        "event": f"/api/v1/events/{created['event']['id']}",
        "endorsement": f"/api/v1/campaigns/{created['campaign']['id']}/endorsements",
    }
    response = second.client.get(urls[field.target])
    assert response.status_code == 200, response.data
    node: Any = strict_json(response.data)
    if field.target == "endorsement":
        node = node["items"][0]
    for key in field.path:
        node = node[key]
    assert node == value  # the second instance shows what the first accepted
