"""One text policy at the input boundary: every text field of every resource, and the query
arguments, refuse what would break a feed, a page, a database or a signed envelope."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import campaign_payload, coalition_payload, event_payload
from flask.testing import FlaskClient
from marshmallow import ValidationError
from werkzeug.test import TestResponse

from federation import text as text_policy
from schemas.common import LANGUAGE, SLUG
from schemas.events import TAG_PATTERN

Maker = Callable[..., dict[str, Any]]
Path = tuple[str | int, ...]

# Refused everywhere: line breaks of every kind, tabs, C0 and C1 controls, DEL, NUL, a lone
# surrogate (sent as the JSON escape \ud800), a noncharacter.
SINGLE_LINE_REFUSED = [
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x0b",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\x00",
    "\ud800",
    "\udfff",
    "\ufffe",
    "\U0010ffff",
]
# In descriptions a line break is LF and a tab is a tab; anything else is refused.
MULTI_LINE_REFUSED = ["\r", "\r\n", "\x0b", "\x0c", "\x1b", "\x85", "\u2028", "\x00", "\ud800"]
MULTI_LINE_ACCEPTED = "First line,\n\tindented second; and a backslash \\N typed."


def post(client: FlaskClient, url: str, body: Any, headers: dict[str, str]) -> TestResponse:
    # Real bytes: json.dumps writes a lone surrogate as the escape a hostile client would send.
    raw = json.dumps(body).encode("ascii")
    return client.post(url, data=raw, content_type="application/json", headers=headers)


def with_value(body: Any, path: Path, value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def field_errors(response: TestResponse, path: Path, location: str = "json") -> list[str]:
    """The messages at `path` of a 422 in flask-smorest's shape."""
    assert response.status_code == 422, response.get_data(as_text=True)
    data = response.json
    assert data is not None
    assert (data["code"], data["status"]) == (422, "Unprocessable Entity")
    node = data["errors"][location]
    for key in path:
        node = node[str(key)]
    assert isinstance(node, list), node
    assert all(isinstance(message, str) and message for message in node)
    return node


@pytest.fixture
def targets(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Where each kind of object is written, and a body the API accepts there."""
    make_coalition()
    campaign = make_campaign()
    return {
        "coalition": ("/api/v1/coalitions", coalition_payload(slug="hostile")),
        "event": ("/api/v1/coalitions/minneapolis/events", event_payload()),
        "campaign": ("/api/v1/campaigns", campaign_payload()),
        "endorsement": (
            f"/api/v1/campaigns/{campaign['id']}/endorsements",
            {"organization": "SEIU Local 26", "level": "mobilize", "coalition": "minneapolis"},
        ),
        "peer": ("/api/v1/peers", {"url": "https://nyc.example.org"}),
        "token": ("/api/v1/coalitions/minneapolis/tokens", {"label": "phone"}),
    }


# Every text field a client writes, with a valid value, and whether it is multi-line.
FIELDS: list[tuple[str, Path, str, bool]] = [
    ("coalition", ("slug",), "hostile", False),
    ("coalition", ("name",), "Hostile coalition", False),
    ("coalition", ("city",), "Minneapolis", False),
    ("coalition", ("city_slug",), "minneapolis", False),
    ("coalition", ("timezone",), "America/Chicago", False),
    ("coalition", ("website",), "https://example.org/hostile", False),
    ("coalition", ("member_organizations", 0, "name"), "SEIU Local 26", False),
    ("coalition", ("description",), "Unions.", True),
    ("event", ("title",), "March", False),
    ("event", ("timezone",), "America/Chicago", False),
    ("event", ("rrule",), "FREQ=DAILY;COUNT=3", False),
    ("event", ("online_url",), "https://meet.example.org/room", False),
    ("event", ("kind",), "march", False),
    ("event", ("status",), "confirmed", False),
    ("event", ("tags", 0), "day-of-action", False),
    ("event", ("language",), "en", False),
    ("event", ("location", "name"), "The Capitol", False),
    ("event", ("location", "address"), "75 Rev Dr MLK Jr Blvd", False),
    ("event", ("description",), "Bring signs.", True),
    ("campaign", ("title",), "Day of Action", False),
    ("campaign", ("coalition",), "minneapolis", False),
    ("campaign", ("description",), "No work.", True),
    ("campaign", ("call_to_action",), "Join.", True),
    ("endorsement", ("organization",), "Nurses United", False),
    ("endorsement", ("coalition",), "minneapolis", False),
    ("peer", ("url",), "https://nyc.example.org", False),
    ("token", ("label",), "phone", False),
]


@pytest.mark.parametrize(
    ("target", "path", "valid", "multiline"),
    FIELDS,
    ids=[f"{target}.{'.'.join(map(str, path))}" for target, path, _, _ in FIELDS],
)
def test_every_text_field_refuses_what_the_policy_refuses(
    client: FlaskClient,
    admin: dict[str, str],
    targets: dict[str, tuple[str, dict[str, Any]]],
    target: str,
    path: Path,
    valid: str,
    multiline: bool,
) -> None:
    url, base = targets[target]
    refused = MULTI_LINE_REFUSED if multiline else SINGLE_LINE_REFUSED
    for char in refused:
        # At the end: Python's `$` let a trailing newline through every pattern.
        for value in (valid + char, valid[:2] + char + valid[2:]):
            response = post(client, url, with_value(base, path, value), admin)
            messages = field_errors(response, path)
            assert any("U+" in m or "NUL" in m for m in messages), (value, messages)
    if multiline:
        created = post(client, url, with_value(base, path, MULTI_LINE_ACCEPTED), admin)
        assert created.status_code == 201, created.json
        assert created.json[path[0]] == MULTI_LINE_ACCEPTED
    else:
        # The valid value is accepted: the refusals were the characters'.
        accepted = post(client, url, with_value(base, path, valid), admin)
        assert accepted.status_code == 201, accepted.json


def test_a_refusal_names_the_character_and_where_it_is(
    client: FlaskClient, admin: dict[str, str], targets: Any
) -> None:
    url, base = targets["event"]
    messages = field_errors(
        post(client, url, {**base, "title": "Rally\rBEGIN:VEVENT"}, admin), ("title",)
    )
    assert messages == ["Must be a single line: found a line break or tab (U+000D at position 5)."]
    messages = field_errors(
        post(client, url, {**base, "description": "a\ud800"}, admin), ("description",)
    )
    assert messages == ["Must be valid Unicode text: a lone surrogate (U+D800 at position 1)."]


def test_slug_with_a_trailing_newline_is_refused_not_created_unreachable(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = post(client, "/api/v1/coalitions", coalition_payload(slug="x\n"), admin)

    field_errors(response, ("slug",))
    assert client.get("/api/v1/coalitions").json["items"] == []


@pytest.mark.parametrize(
    ("validator", "value"),
    [(SLUG, "minneapolis\n"), (LANGUAGE, "en\n"), (TAG_PATTERN, "strike\n")],
)
def test_patterns_are_anchored_to_the_whole_string(validator: Any, value: str) -> None:
    # The text policy refuses the newline first; the patterns hold on their own too.
    validator(value.rstrip("\n"))
    with pytest.raises(ValidationError):
        validator(value)


BLANK = ["", " ", "   ", "\u00a0", "\u3000", "\u200b", "\ufeff \u200d"]


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("coalition", ("name",)),
        ("coalition", ("city",)),
        ("coalition", ("member_organizations", 0, "name")),
        ("event", ("title",)),
        ("campaign", ("title",)),
        ("endorsement", ("organization",)),
        ("peer", ("url",)),
    ],
)
def test_required_text_must_not_be_blank(
    client: FlaskClient, admin: dict[str, str], targets: Any, target: str, path: Path
) -> None:
    url, base = targets[target]
    for value in BLANK:
        field_errors(post(client, url, with_value(base, path, value), admin), path)


def test_an_edit_cannot_blank_a_title_either(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_event: Maker
) -> None:
    make_coalition()
    event = make_event()

    response = client.patch(
        f"/api/v1/events/{event['id']}", json={"title": " \u200b "}, headers=admin
    )

    assert field_errors(response, ("title",)) == ["Must not be blank."]
    assert client.get(f"/api/v1/events/{event['id']}").json["title"] == event["title"]


@pytest.mark.parametrize(
    ("location", "missing"),
    [
        ({"latitude": 44.95}, "longitude"),
        ({"longitude": -93.1}, "latitude"),
        ({"latitude": 44.95, "longitude": None}, "longitude"),
    ],
)
def test_a_coordinate_comes_with_its_pair(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, location: Any, missing: str
) -> None:
    make_coalition()
    url = "/api/v1/coalitions/minneapolis/events"

    response = post(client, url, event_payload(location={"name": "Capitol", **location}), admin)

    assert field_errors(response, ("location", missing)) == [
        f"Required with {'latitude' if missing == 'longitude' else 'longitude'}."
    ]
    assert client.get("/api/v1/events").json["items"] == []
    for fine in ({"name": "Capitol"}, {"latitude": 0, "longitude": 0}):
        assert post(client, url, event_payload(location=fine), admin).status_code == 201


QUERIES = [
    ("/api/v1/events", "q"),
    ("/api/v1/events", "city"),
    ("/api/v1/events", "coalition"),
    ("/api/v1/events", "tag"),
    ("/api/v1/coalitions", "city"),
    ("/api/v1/coalitions", "q"),
    ("/api/v1/campaigns", "coalition"),
    ("/api/v1/campaigns", "city"),
    ("/api/v1/campaigns", "q"),
    ("/feeds/all.ics", "city"),
    ("/feeds/all.ics", "coalition"),
    ("/feeds/all.ics", "tag"),
    ("/federation/v1/changes", "after"),
    ("/federation/v1/snapshot", "page"),
]


@pytest.mark.parametrize(("url", "name"), QUERIES, ids=[f"{u}?{n}" for u, n in QUERIES])
def test_query_arguments_are_single_line_text(
    client: FlaskClient, make_coalition: Maker, url: str, name: str
) -> None:
    make_coalition()
    for char in ["\x00", "\n", "\r", "\t", "\x1b", "\x85", "\u2028"]:
        response = client.get(url, query_string={name: f"minneapolis{char}"})
        field_errors(response, (name,), location="query")


def test_every_character_the_policy_refuses_is_one_python_calls_unprintable():
    """text.refusal lets printable text through without looking further: that is only right
    while the policy refuses no printable character. Beside an allowed unprintable character
    (a zero-width joiner; LF in multi-line text) every printable one goes the long way."""
    for code in range(0x110000):
        char = chr(code)
        if char.isprintable():
            assert text_policy.refusal(f"\u200d{char}") is None, hex(code)
            assert text_policy.refusal(f"\n{char}", multiline=True) is None, hex(code)
