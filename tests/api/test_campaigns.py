"""Campaigns (days of action) and their endorsements over HTTP, with who may change them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BASE_URL, campaign_payload
from flask import Flask
from flask.testing import FlaskClient

from federation.db import get_session
from federation.models import Coalition, Tombstone
from schemas.vocabulary import ENDORSEMENT_LEVELS

Maker = Callable[..., dict[str, Any]]
TokenMaker = Callable[[str], dict[str, str]]


@pytest.fixture
def two_coalitions(make_coalition: Maker) -> None:
    """Minneapolis (the default payload) and Chicago, in different cities."""
    make_coalition()
    make_coalition(slug="chicago", name="Chicago Coalition", city="Chicago", city_slug="chicago")


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


def _endorse(client: FlaskClient, campaign_id: str, headers: dict[str, str], **body: Any) -> Any:
    body.setdefault("organization", "SEIU Local 26")
    body.setdefault("level", "endorse")
    return client.post(f"/api/v1/campaigns/{campaign_id}/endorsements", json=body, headers=headers)


def _tombstone(app: Flask, object_id: str) -> Tombstone | None:
    with app.app_context():
        return get_session().get(Tombstone, uuid.UUID(object_id))


# Campaigns


def test_create_returns_the_campaign(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()
    payload = campaign_payload(starts_on="2027-01-23", ends_on="2027-01-24")

    response = client.post("/api/v1/campaigns", json=payload, headers=admin)

    assert response.status_code == 201, response.json
    body = response.json
    for field, value in payload.items():
        assert body[field] == value, field
    assert uuid.UUID(body["id"])
    assert body["coalition"] == "minneapolis"
    assert body["endorsements"] == []
    assert body["origin"] == BASE_URL
    assert body["version"] == 1
    assert _aware(body["created_at"]) <= _aware(body["updated_at"])
    assert client.get(f"/api/v1/campaigns/{body['id']}").json == body


def test_campaign_ending_before_it_starts_is_422(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()

    response = client.post(
        "/api/v1/campaigns",
        json=campaign_payload(starts_on="2027-01-23", ends_on="2027-01-22"),
        headers=admin,
    )

    assert response.status_code == 422
    assert "ends_on" in response.json["errors"]["json"]
    assert client.get("/api/v1/campaigns").json["items"] == []


@pytest.mark.parametrize(
    "changes",
    [
        {"ends_on": "2027-01-22"},
        {"starts_on": "2027-01-24"},
        {"starts_on": "2027-02-01", "ends_on": "2027-01-31"},
    ],
)
def test_patch_making_the_campaign_end_before_it_starts_is_422(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    changes: dict[str, str],
) -> None:
    make_coalition()
    campaign = make_campaign(starts_on="2027-01-23", ends_on="2027-01-23")

    response = client.patch(f"/api/v1/campaigns/{campaign['id']}", json=changes, headers=admin)

    assert response.status_code == 422
    assert "ends_on" in response.json["errors"]["json"]
    assert client.get(f"/api/v1/campaigns/{campaign['id']}").json == campaign


def test_unknown_coalition_is_422(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()

    response = client.post(
        "/api/v1/campaigns", json=campaign_payload(coalition="atlantis"), headers=admin
    )

    assert response.status_code == 422
    assert "coalition" in response.json["errors"]["json"]
    assert client.get("/api/v1/campaigns").json["items"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"starts_on": "January 23"}, "starts_on"),
        ({"organizer": "me"}, "organizer"),
    ],
)
def test_invalid_campaign_is_422(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    overrides: dict[str, Any],
    field: str,
) -> None:
    make_coalition()

    response = client.post("/api/v1/campaigns", json=campaign_payload(**overrides), headers=admin)

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


@pytest.mark.usefixtures("two_coalitions")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["mpls-jan", "chi-jan", "mpls-may"]),
        ({"coalition": "minneapolis"}, ["mpls-jan", "mpls-may"]),
        ({"coalition": "chicago"}, ["chi-jan"]),
        ({"city": "chicago"}, ["chi-jan"]),
        ({"city": "minneapolis"}, ["mpls-jan", "mpls-may"]),
        ({"q": "MAY DAY"}, ["mpls-may"]),
        ({"q": "general strike"}, ["chi-jan"]),
        ({"coalition": "nowhere"}, []),
    ],
)
def test_list_filters(
    client: FlaskClient, make_campaign: Maker, query: dict[str, str], expected: list[str]
) -> None:
    make_campaign(
        title="mpls-may", description="May Day", starts_on="2027-05-01", ends_on="2027-05-01"
    )
    make_campaign(title="mpls-jan", starts_on="2027-01-23", ends_on="2027-01-23")
    make_campaign(
        title="chi-jan",
        description="A general strike.",
        coalition="chicago",
        starts_on="2027-01-24",
        ends_on="2027-01-25",
    )

    response = client.get("/api/v1/campaigns", query_string=query)

    assert response.status_code == 200
    assert set(response.json) == {"items", "next_cursor"}
    assert [item["title"] for item in response.json["items"]] == expected


@pytest.mark.usefixtures("two_coalitions")
def test_pagination_is_by_start_date_then_id(client: FlaskClient, make_campaign: Maker) -> None:
    created = [
        make_campaign(title=f"c{n}", starts_on=day, ends_on="2027-06-30", coalition=coalition)
        for n, (day, coalition) in enumerate(
            [
                ("2027-03-01", "minneapolis"),
                ("2027-01-23", "chicago"),
                ("2027-01-23", "minneapolis"),
                ("2027-02-14", "chicago"),
                ("2027-01-23", "chicago"),
            ]
        )
    ]
    expected = sorted(created, key=lambda c: (c["starts_on"], uuid.UUID(c["id"])))

    walked = _walk(client, "/api/v1/campaigns", limit=2)

    assert [c["id"] for c in walked] == [c["id"] for c in expected]


def test_get_unknown_campaign_is_404(client: FlaskClient) -> None:
    response = client.get(f"/api/v1/campaigns/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json["message"]


def test_deleted_campaign_is_410_with_its_endorsements_buried(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
) -> None:
    make_coalition()
    campaign = make_campaign()
    endorsement = _endorse(client, campaign["id"], admin).json

    response = client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=admin)

    assert response.status_code == 204
    gone = client.get(f"/api/v1/campaigns/{campaign['id']}")
    assert gone.status_code == 410
    assert gone.json["message"]
    assert client.get("/api/v1/campaigns").json["items"] == []
    assert client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").status_code == 410
    for obj, type_ in [(campaign, "Campaign"), (endorsement, "Endorsement")]:
        tombstone = _tombstone(app, obj["id"])
        assert tombstone is not None
        assert tombstone.type == type_
    assert client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=admin).status_code == 410


def test_actions_leave_a_deleted_campaign(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    make_event: Maker,
) -> None:
    make_coalition()
    campaign = make_campaign()
    event = make_event(campaign_id=campaign["id"])
    assert event["campaign_id"] == campaign["id"]

    assert client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=admin).status_code == 204

    kept = client.get(f"/api/v1/events/{event['id']}")
    assert kept.status_code == 200
    assert kept.json["campaign_id"] is None
    assert kept.json["version"] == event["version"] + 1


def test_patch_bumps_version(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()

    response = client.patch(
        f"/api/v1/campaigns/{campaign['id']}",
        json={"title": "January 23: Day of Truth and Freedom", "ends_on": "2027-01-24"},
        headers=admin,
    )

    assert response.status_code == 200, response.json
    assert response.json["title"] == "January 23: Day of Truth and Freedom"
    assert response.json["ends_on"] == "2027-01-24"
    assert response.json["version"] == campaign["version"] + 1
    assert response.json["coalition"] == "minneapolis"
    fetched = client.get(f"/api/v1/campaigns/{campaign['id']}").json
    assert fetched["version"] == campaign["version"] + 1
    assert fetched["title"] == "January 23: Day of Truth and Freedom"


@pytest.mark.usefixtures("two_coalitions")
def test_patch_cannot_move_a_campaign_to_another_coalition(
    client: FlaskClient, admin: dict[str, str], make_campaign: Maker
) -> None:
    campaign = make_campaign()

    response = client.patch(
        f"/api/v1/campaigns/{campaign['id']}", json={"coalition": "chicago"}, headers=admin
    )

    assert response.status_code == 422
    assert "coalition" in response.json["errors"]["json"]
    assert client.get(f"/api/v1/campaigns/{campaign['id']}").json == campaign


@pytest.mark.usefixtures("two_coalitions")
def test_coalition_admin_manages_only_its_own_campaigns(
    client: FlaskClient, make_campaign: Maker, coalition_token: TokenMaker
) -> None:
    chicago_campaign = make_campaign(coalition="chicago", title="Chicago's call")
    minneapolis = coalition_token("minneapolis")

    own = client.post("/api/v1/campaigns", json=campaign_payload(), headers=minneapolis)
    create_for_other = client.post(
        "/api/v1/campaigns", json=campaign_payload(coalition="chicago"), headers=minneapolis
    )
    patch_other = client.patch(
        f"/api/v1/campaigns/{chicago_campaign['id']}", json={"title": "Ours"}, headers=minneapolis
    )
    delete_other = client.delete(f"/api/v1/campaigns/{chicago_campaign['id']}", headers=minneapolis)

    assert own.status_code == 201, own.json
    assert create_for_other.status_code == 403
    assert patch_other.status_code == 403
    assert delete_other.status_code == 403
    assert client.get(f"/api/v1/campaigns/{chicago_campaign['id']}").json == chicago_campaign
    listed = client.get("/api/v1/campaigns", query_string={"coalition": "chicago"}).json
    assert [c["id"] for c in listed["items"]] == [chicago_campaign["id"]]


@pytest.mark.usefixtures("two_coalitions")
def test_coalition_admin_edits_and_deletes_its_own_campaign(
    client: FlaskClient, make_campaign: Maker, coalition_token: TokenMaker
) -> None:
    campaign = make_campaign()
    minneapolis = coalition_token("minneapolis")

    patched = client.patch(
        f"/api/v1/campaigns/{campaign['id']}", json={"title": "Ours"}, headers=minneapolis
    )
    deleted = client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=minneapolis)

    assert patched.status_code == 200
    assert patched.json["title"] == "Ours"
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/campaigns/{campaign['id']}").status_code == 410


# Endorsements


@pytest.mark.parametrize("level", ENDORSEMENT_LEVELS)
def test_endorse_at_each_level(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    level: str,
) -> None:
    make_coalition()
    campaign = make_campaign()

    response = _endorse(
        client, campaign["id"], admin, organization="Minnesota Nurses Association", level=level
    )

    assert response.status_code == 201, response.json
    body = response.json
    assert uuid.UUID(body["id"])
    assert body["organization"] == "Minnesota Nurses Association"
    assert body["level"] == level
    assert body["coalition"] is None
    assert body["origin"] == BASE_URL
    assert body["version"] == 1
    assert _aware(body["created_at"])


def test_nurses_union_stands_in_solidarity_without_striking(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()

    response = _endorse(
        client,
        campaign["id"],
        admin,
        organization="Minnesota Nurses Association",
        level="solidarity",
        coalition="minneapolis",
    )

    assert response.status_code == 201, response.json
    assert response.json["coalition"] == "minneapolis"
    (embedded,) = client.get(f"/api/v1/campaigns/{campaign['id']}").json["endorsements"]
    assert embedded == response.json
    assert embedded["level"] == "solidarity"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"level": "boycott"}, "level"),
        ({"level": "Strike"}, "level"),
        ({"level": None}, "level"),
        ({"organization": ""}, "organization"),
        ({"organization": "x" * 201}, "organization"),
        ({"coalition": "atlantis"}, "coalition"),
        ({"notes": "hi"}, "notes"),
    ],
)
def test_invalid_endorsement_is_422(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    body: dict[str, Any],
    field: str,
) -> None:
    make_coalition()
    campaign = make_campaign()

    response = _endorse(client, campaign["id"], admin, **body)

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert client.get(f"/api/v1/campaigns/{campaign['id']}").json["endorsements"] == []


def test_endorsement_without_level_is_422(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()

    response = client.post(
        f"/api/v1/campaigns/{campaign['id']}/endorsements",
        json={"organization": "SEIU Local 26"},
        headers=admin,
    )

    assert response.status_code == 422
    assert "level" in response.json["errors"]["json"]


def test_same_organization_endorses_a_campaign_once(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()
    other = make_campaign(title="Another day")
    first = _endorse(client, campaign["id"], admin, level="endorse")

    again = _endorse(client, campaign["id"], admin, level="strike")
    elsewhere = _endorse(client, other["id"], admin, level="strike")

    assert first.status_code == 201
    assert again.status_code == 409
    assert "organization" in again.json["errors"]["json"]
    assert elsewhere.status_code == 201
    (kept,) = client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"]
    assert kept["level"] == "endorse"


def test_endorsements_are_listed_and_paginated(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()
    other = make_campaign(title="Another day")
    organizations = ["SEIU Local 26", "CTUL", "Minnesota Nurses Association", "Unidos MN"]
    created = [
        _endorse(client, campaign["id"], admin, organization=name).json for name in organizations
    ]
    _endorse(client, other["id"], admin, organization="Somebody else")

    url = f"/api/v1/campaigns/{campaign['id']}/endorsements"
    page = client.get(url).json
    walked = _walk(client, url, limit=3)

    assert set(page) == {"items", "next_cursor"}
    assert page["next_cursor"] is None
    assert sorted(e["id"] for e in page["items"]) == sorted(e["id"] for e in created)
    assert [e["id"] for e in walked] == [e["id"] for e in page["items"]]
    embedded = client.get(f"/api/v1/campaigns/{campaign['id']}").json["endorsements"]
    assert [e["id"] for e in embedded] == [e["id"] for e in page["items"]]


def test_endorsements_of_unknown_campaign_is_404(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    assert client.get(f"/api/v1/campaigns/{uuid.uuid4()}/endorsements").status_code == 404
    assert _endorse(client, str(uuid.uuid4()), admin).status_code == 404


def test_withdraw_endorsement(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
) -> None:
    make_coalition()
    campaign = make_campaign()
    withdrawn = _endorse(client, campaign["id"], admin, organization="CTUL").json
    kept = _endorse(client, campaign["id"], admin, organization="SEIU Local 26").json

    response = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{withdrawn['id']}", headers=admin
    )

    assert response.status_code == 204
    listed = client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"]
    assert [e["id"] for e in listed] == [kept["id"]]
    embedded = client.get(f"/api/v1/campaigns/{campaign['id']}").json["endorsements"]
    assert [e["id"] for e in embedded] == [kept["id"]]
    tombstone = _tombstone(app, withdrawn["id"])
    assert tombstone is not None
    assert tombstone.type == "Endorsement"
    assert tombstone.version > withdrawn["version"]
    again = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{withdrawn['id']}", headers=admin
    )
    assert again.status_code == 404


def test_endorsement_of_another_campaign_is_404(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    campaign = make_campaign()
    other = make_campaign(title="Another day")
    endorsement = _endorse(client, other["id"], admin).json

    response = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{endorsement['id']}", headers=admin
    )

    assert response.status_code == 404
    listed = client.get(f"/api/v1/campaigns/{other['id']}/endorsements").json["items"]
    assert [e["id"] for e in listed] == [endorsement["id"]]


@pytest.mark.usefixtures("two_coalitions")
@pytest.mark.parametrize("coalition", ["minneapolis", None])
def test_campaign_organizers_record_their_own_and_unaffiliated_endorsements(
    client: FlaskClient, make_campaign: Maker, coalition_token: TokenMaker, coalition: str | None
) -> None:
    campaign = make_campaign()
    organizers = coalition_token("minneapolis")

    response = _endorse(client, campaign["id"], organizers, coalition=coalition)

    assert response.status_code == 201, response.json
    assert response.json["coalition"] == coalition
    withdrawn = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{response.json['id']}",
        headers=organizers,
    )
    assert withdrawn.status_code == 204


@pytest.mark.usefixtures("two_coalitions")
def test_campaign_organizers_cannot_endorse_in_another_coalitions_name(
    client: FlaskClient, admin: dict[str, str], make_campaign: Maker, coalition_token: TokenMaker
) -> None:
    campaign = make_campaign()
    organizers = coalition_token("minneapolis")

    response = _endorse(client, campaign["id"], organizers, organization="CTU", coalition="chicago")

    assert response.status_code == 403
    assert "coalition" in response.json["errors"]["json"]
    assert client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"] == []
    # Chicago itself, or an instance admin, may.
    by_admin = _endorse(client, campaign["id"], admin, organization="CTU", coalition="chicago")
    assert by_admin.status_code == 201, by_admin.json
    # The organizers still keep their list: they may take it off their campaign.
    withdrawn = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{by_admin.json['id']}",
        headers=organizers,
    )
    assert withdrawn.status_code == 204


@pytest.mark.usefixtures("two_coalitions")
def test_nobody_here_endorses_in_another_instances_coalitions_name(
    app: Flask, client: FlaskClient, admin: dict[str, str], make_campaign: Maker
) -> None:
    campaign = make_campaign()
    with app.app_context():
        session = get_session()
        session.add(
            Coalition(
                origin="https://nyc.example",
                slug="nyc-labor-nyc-example",
                name="NYC Labor",
                city="New York",
                city_slug="new-york",
                timezone="America/New_York",
            )
        )
        session.commit()

    response = _endorse(client, campaign["id"], admin, coalition="nyc-labor-nyc-example")

    # Peers would refuse it: only its own instance speaks for a coalition.
    assert response.status_code == 403
    assert "coalition" in response.json["errors"]["json"]
    assert client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"] == []


@pytest.mark.usefixtures("two_coalitions")
def test_other_coalition_records_and_withdraws_its_own_endorsement(
    client: FlaskClient, make_campaign: Maker, coalition_token: TokenMaker
) -> None:
    campaign = make_campaign()
    chicago = coalition_token("chicago")

    added = _endorse(client, campaign["id"], chicago, organization="CTU", coalition="chicago")

    assert added.status_code == 201, added.json
    assert added.json["coalition"] == "chicago"
    withdrawn = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{added.json['id']}", headers=chicago
    )
    assert withdrawn.status_code == 204
    assert client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"] == []


@pytest.mark.usefixtures("two_coalitions")
@pytest.mark.parametrize(
    "body",
    [{"coalition": "minneapolis"}, {"coalition": None}, {}],
    ids=["organizers-coalition", "null-coalition", "no-coalition"],
)
def test_other_coalition_cannot_speak_for_others(
    client: FlaskClient, make_campaign: Maker, coalition_token: TokenMaker, body: dict[str, Any]
) -> None:
    campaign = make_campaign()
    chicago = coalition_token("chicago")

    response = _endorse(client, campaign["id"], chicago, **body)

    assert response.status_code == 403
    assert client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"] == []


@pytest.mark.usefixtures("two_coalitions")
@pytest.mark.parametrize("coalition", ["minneapolis", None])
def test_other_coalition_cannot_withdraw_others_endorsements(
    client: FlaskClient,
    admin: dict[str, str],
    make_campaign: Maker,
    coalition_token: TokenMaker,
    coalition: str | None,
) -> None:
    campaign = make_campaign()
    endorsement = _endorse(client, campaign["id"], admin, coalition=coalition).json
    chicago = coalition_token("chicago")

    response = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{endorsement['id']}", headers=chicago
    )

    assert response.status_code == 403
    listed = client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"]
    assert [e["id"] for e in listed] == [endorsement["id"]]


@pytest.mark.usefixtures("two_coalitions")
def test_unrelated_coalition_cannot_touch_a_campaign(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Maker,
    make_campaign: Maker,
    coalition_token: TokenMaker,
) -> None:
    make_coalition(slug="seattle", city="Seattle", city_slug="seattle")
    campaign = make_campaign()
    chicago_endorsement = _endorse(client, campaign["id"], admin, coalition="chicago").json
    seattle = coalition_token("seattle")

    withdraw = client.delete(
        f"/api/v1/campaigns/{campaign['id']}/endorsements/{chicago_endorsement['id']}",
        headers=seattle,
    )
    speak_for_chicago = _endorse(
        client, campaign["id"], seattle, organization="CTU", coalition="chicago"
    )

    assert withdraw.status_code == 403
    assert speak_for_chicago.status_code == 403
    listed = client.get(f"/api/v1/campaigns/{campaign['id']}/endorsements").json["items"]
    assert [e["id"] for e in listed] == [chicago_endorsement["id"]]
