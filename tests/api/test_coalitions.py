"""Coalitions over HTTP: registering, listing, editing, and deleting with all they published."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BASE_URL, coalition_payload
from flask import Flask
from flask.testing import FlaskClient

from federation.db import get_session
from federation.models import Tombstone

Maker = Callable[..., dict[str, Any]]
TokenMaker = Callable[[str], dict[str, str]]


def _aware(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    assert moment.utcoffset() is not None, f"{value} has no offset"
    return moment


def _walk(client: FlaskClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get(url, query_string=query)
        assert response.status_code == 200, response.json
        assert len(response.json["items"]) <= params.get("limit", 50)
        items.extend(response.json["items"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def _tombstone(app: Flask, object_id: str) -> Tombstone | None:
    with app.app_context():
        return get_session().get(Tombstone, uuid.UUID(object_id))


def test_create_returns_the_coalition(client: FlaskClient, admin: dict[str, str]) -> None:
    payload = coalition_payload(
        member_organizations=[
            {"name": "SEIU Local 26", "kind": "union"},
            {"name": "COPAL", "kind": "immigrant_rights"},
        ]
    )
    response = client.post("/api/v1/coalitions", json=payload, headers=admin)

    assert response.status_code == 201, response.json
    body = response.json
    for field, value in payload.items():
        assert body[field] == value, field
    assert uuid.UUID(body["id"])
    assert body["origin"] == BASE_URL
    assert body["version"] == 1
    assert _aware(body["created_at"]) <= _aware(body["updated_at"])
    assert client.get(f"/api/v1/coalitions/{payload['slug']}").json == body


def test_get_returns_what_was_created(client: FlaskClient, make_coalition: Maker) -> None:
    created = make_coalition(slug="chicago", name="Chicago Coalition", city="Chicago")

    response = client.get("/api/v1/coalitions/chicago")

    assert response.status_code == 200
    assert response.json["id"] == created["id"]
    assert response.json["name"] == "Chicago Coalition"


def test_get_unknown_slug_is_404(client: FlaskClient, make_coalition: Maker) -> None:
    make_coalition()

    response = client.get("/api/v1/coalitions/nowhere")

    assert response.status_code == 404
    assert response.json["code"] == 404
    assert response.json["message"]


def test_list_is_in_slug_order(client: FlaskClient, make_coalition: Maker) -> None:
    for slug in ("seattle", "chicago", "minneapolis"):
        make_coalition(slug=slug)

    response = client.get("/api/v1/coalitions")

    assert response.status_code == 200
    assert set(response.json) == {"items", "next_cursor"}
    assert [item["slug"] for item in response.json["items"]] == [
        "chicago",
        "minneapolis",
        "seattle",
    ]
    assert response.json["next_cursor"] is None


def test_pagination_visits_every_coalition_once(client: FlaskClient, make_coalition: Maker) -> None:
    slugs = ["portland", "austin", "minneapolis", "chicago", "seattle"]
    for slug in slugs:
        make_coalition(slug=slug)

    first = client.get("/api/v1/coalitions", query_string={"limit": 2}).json
    walked = _walk(client, "/api/v1/coalitions", limit=2)

    assert len(first["items"]) == 2
    assert first["next_cursor"]
    assert [item["slug"] for item in walked] == sorted(slugs)


def test_list_filters_by_city(client: FlaskClient, make_coalition: Maker) -> None:
    make_coalition(slug="minneapolis", city="Minneapolis", city_slug="minneapolis")
    make_coalition(slug="mpls-faith", city="Minneapolis", city_slug="minneapolis")
    make_coalition(slug="chicago", city="Chicago", city_slug="chicago")

    response = client.get("/api/v1/coalitions", query_string={"city": "minneapolis"})

    assert [item["slug"] for item in response.json["items"]] == ["minneapolis", "mpls-faith"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("solidarity", ["minneapolis"]),
        ("CHICAGO", ["chicago"]),
        ("Coalition", ["chicago", "minneapolis"]),
        ("nothing like it", []),
    ],
)
def test_list_searches_name_and_city(
    client: FlaskClient, make_coalition: Maker, q: str, expected: list[str]
) -> None:
    make_coalition(slug="minneapolis", name="Twin Cities Solidarity Coalition")
    make_coalition(slug="chicago", name="Coalition for Workers", city="Chicago")

    response = client.get("/api/v1/coalitions", query_string={"q": q})

    assert response.status_code == 200
    assert [item["slug"] for item in response.json["items"]] == expected


def test_duplicate_slug_is_409(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition(name="First")

    response = client.post(
        "/api/v1/coalitions", json=coalition_payload(name="Second"), headers=admin
    )

    assert response.status_code == 409
    assert "slug" in response.json["errors"]["json"]
    assert client.get("/api/v1/coalitions/minneapolis").json["name"] == "First"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "a--b"}, "slug"),
        ({"member_organizations": [{"name": "Guild", "kind": "guild"}]}, "member_organizations"),
        ({"color": "red"}, "color"),
        ({"name": "x" * 201}, "name"),
        ({"website": "ftp://example.org/mpls"}, "website"),
        ({"website": "javascript:alert(1)"}, "website"),
    ],
)
def test_invalid_coalition_is_422(
    client: FlaskClient, admin: dict[str, str], overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/coalitions", json=coalition_payload(**overrides), headers=admin)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert client.get("/api/v1/coalitions").json["items"] == []


def test_name_of_200_characters_is_accepted(client: FlaskClient, make_coalition: Maker) -> None:
    created = make_coalition(name="x" * 200)

    assert created["name"] == "x" * 200


def test_patch_changes_name_and_bumps_version(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    created = make_coalition()

    response = client.patch(
        "/api/v1/coalitions/minneapolis", json={"name": "Renamed Coalition"}, headers=admin
    )

    assert response.status_code == 200, response.json
    assert response.json["name"] == "Renamed Coalition"
    assert response.json["version"] == created["version"] + 1
    assert _aware(response.json["updated_at"]) >= _aware(created["updated_at"])
    assert response.json["city"] == created["city"]
    fetched = client.get("/api/v1/coalitions/minneapolis").json
    assert fetched["name"] == "Renamed Coalition"
    assert fetched["version"] == created["version"] + 1


def test_patch_cannot_change_slug(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    created = make_coalition()

    response = client.patch(
        "/api/v1/coalitions/minneapolis", json={"slug": "st-paul"}, headers=admin
    )

    assert response.status_code == 422
    assert "slug" in response.json["errors"]["json"]
    assert client.get("/api/v1/coalitions/minneapolis").json["version"] == created["version"]
    assert client.get("/api/v1/coalitions/st-paul").status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "America/Nowhere"}, "timezone"),
        ({"name": ""}, "name"),
        ({"website": "ftp://example.org"}, "website"),
        # A PATCH replaces the list whole: each organization in it still needs its name.
        ({"member_organizations": [{"kind": "faith"}]}, "member_organizations"),
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    changes: dict[str, Any],
    field: str,
) -> None:
    created = make_coalition()

    response = client.patch("/api/v1/coalitions/minneapolis", json=changes, headers=admin)

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert client.get("/api/v1/coalitions/minneapolis").json == created


def test_delete_removes_the_coalition_and_everything_it_published(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_event: Maker,
    make_campaign: Maker,
) -> None:
    coalition = make_coalition()
    event = make_event()
    campaign = make_campaign()
    endorsement = client.post(
        f"/api/v1/campaigns/{campaign['id']}/endorsements",
        json={"organization": "SEIU Local 26", "level": "strike", "coalition": "minneapolis"},
        headers=admin,
    ).json

    response = client.delete("/api/v1/coalitions/minneapolis", headers=admin)

    assert response.status_code == 204
    assert client.get("/api/v1/coalitions/minneapolis").status_code == 404
    assert client.get("/api/v1/coalitions").json["items"] == []
    assert client.get(f"/api/v1/events/{event['id']}").status_code == 410
    assert client.get(f"/api/v1/campaigns/{campaign['id']}").status_code == 410
    assert client.get("/api/v1/events").json["items"] == []
    assert client.get("/api/v1/campaigns").json["items"] == []
    for obj, type_ in [
        (coalition, "Coalition"),
        (event, "Event"),
        (campaign, "Campaign"),
        (endorsement, "Endorsement"),
    ]:
        tombstone = _tombstone(app, obj["id"])
        assert tombstone is not None, type_
        assert tombstone.type == type_
        assert tombstone.version > obj["version"]
    coalition_tombstone = _tombstone(app, coalition["id"])
    assert coalition_tombstone is not None
    assert coalition_tombstone.slug == "minneapolis"


def test_delete_keeps_other_coalitions_endorsements(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    make_coalition(slug="chicago", city="Chicago", city_slug="chicago")
    chicago_campaign = make_campaign(coalition="chicago")
    endorsement = client.post(
        f"/api/v1/campaigns/{chicago_campaign['id']}/endorsements",
        json={"organization": "SEIU Local 26", "level": "mobilize", "coalition": "minneapolis"},
        headers=admin,
    ).json
    assert endorsement["coalition"] == "minneapolis"

    assert client.delete("/api/v1/coalitions/minneapolis", headers=admin).status_code == 204

    campaign = client.get(f"/api/v1/campaigns/{chicago_campaign['id']}").json
    (kept,) = campaign["endorsements"]
    assert kept["id"] == endorsement["id"]
    assert kept["organization"] == "SEIU Local 26"
    assert kept["coalition"] is None
    # Losing the link is a change peers must see: a new version.
    assert kept["version"] == endorsement["version"] + 1
    assert client.get("/api/v1/coalitions/chicago").status_code == 200


def test_delete_unknown_coalition_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.delete("/api/v1/coalitions/nowhere", headers=admin).status_code == 404


def test_coalition_admin_cannot_create_a_coalition(
    client: FlaskClient, make_coalition: Maker, coalition_token: TokenMaker
) -> None:
    make_coalition()
    headers = coalition_token("minneapolis")

    response = client.post(
        "/api/v1/coalitions", json=coalition_payload(slug="chicago"), headers=headers
    )

    assert response.status_code == 403
    assert response.json["message"]
    assert client.get("/api/v1/coalitions/chicago").status_code == 404


def test_coalition_admin_cannot_delete_even_its_own_coalition(
    client: FlaskClient, make_coalition: Maker, coalition_token: TokenMaker
) -> None:
    make_coalition()
    headers = coalition_token("minneapolis")

    response = client.delete("/api/v1/coalitions/minneapolis", headers=headers)

    assert response.status_code == 403
    assert client.get("/api/v1/coalitions/minneapolis").status_code == 200


def test_coalition_admin_edits_only_its_own_coalition(
    client: FlaskClient, make_coalition: Maker, coalition_token: TokenMaker
) -> None:
    make_coalition()
    chicago = make_coalition(slug="chicago", name="Chicago Coalition", city_slug="chicago")
    headers = coalition_token("minneapolis")

    own = client.patch(
        "/api/v1/coalitions/minneapolis", json={"description": "Updated."}, headers=headers
    )
    other = client.patch("/api/v1/coalitions/chicago", json={"name": "Taken over"}, headers=headers)

    assert own.status_code == 200, own.json
    assert own.json["description"] == "Updated."
    assert other.status_code == 403
    assert client.get("/api/v1/coalitions/chicago").json == chicago
