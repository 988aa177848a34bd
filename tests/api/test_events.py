"""Actions (events) over HTTP: publishing, editing, cancelling, deleting, finding and paging.

Every date is relative to the day the suite runs (in Chicago, the Minneapolis coalition's
zone), so the tests never drift into the past. No time is near 02:00, when the clocks change.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import BASE_URL, bearer, event_payload
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from federation.db import get_session
from federation.models import Tombstone
from federation.recurrence import MAX_OCCURRENCES

Maker = Callable[..., dict[str, Any]]
TokenMaker = Callable[[str], dict[str, str]]

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# Fixed once per run, so that a test running across midnight still sees one calendar.
TODAY = dt.datetime.now(CHICAGO).date()

EVENT_FIELDS = {
    "id",
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "all_day",
    "rrule",
    "exdates",
    "location",
    "online_url",
    "kind",
    "tags",
    "status",
    "language",
    "campaign_id",
    "coalition",
    "origin",
    "version",
    "url",
    "created_at",
    "updated_at",
}


def local(days: int, hour: int = 0, minute: int = 0, zone: ZoneInfo = CHICAGO) -> dt.datetime:
    """Wall-clock time `days` after today in `zone`."""
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(hour, minute), zone)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def until(moment: dt.datetime) -> str:
    """An RRULE UNTIL value (UTC) for `moment`."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def payload(
    days: int = 30,
    hour: int = 19,
    hours: int = 2,
    zone: ZoneInfo = CHICAGO,
    **overrides: Any,
) -> dict[str, Any]:
    """An event body starting `days` from today at `hour` (local to `zone`), `hours` long."""
    starts_at = local(days, hour, zone=zone)
    data: dict[str, Any] = event_payload(
        starts_at=iso(starts_at), ends_at=iso(starts_at + hours * HOUR)
    )
    data.update(overrides)
    return data


START = local(30, 19)  # where payload() starts by default
END = START + 2 * HOUR


def body(response: TestResponse) -> Any:
    """The JSON body of a response that must have one."""
    data = response.get_json(silent=True)
    assert data is not None, response.get_data(as_text=True)
    return data


def aware(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    assert moment.utcoffset() is not None, f"{value} has no offset"
    return moment


def b64(value: Any) -> str:
    """A cursor-shaped string holding `value` as JSON."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def error_fields(response: TestResponse, location: str = "json") -> dict[str, Any]:
    """The per-field messages of a 422, after checking the shared error shape."""
    assert response.status_code == 422, response.get_data(as_text=True)
    data = body(response)
    assert data["code"] == 422
    assert isinstance(data["status"], str)
    assert data["status"]
    assert isinstance(data["message"], str)
    assert data["message"]
    fields: dict[str, Any] = data["errors"][location]
    return fields


def walk(client: FlaskClient, **params: Any) -> list[dict[str, Any]]:
    """Every event of a listing, following next_cursor; every page but the last is full."""
    items: list[dict[str, Any]] = []
    cursor = None
    limit = params.get("limit", 50)
    for _ in range(500):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        page = body(client.get("/api/v1/events", query_string=query))
        cursor = page["next_cursor"]
        assert len(page["items"]) == limit if cursor else len(page["items"]) <= limit
        items.extend(page["items"])
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def titles(response: TestResponse) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["title"] for item in body(response)["items"]]


def in_listing_order(events: list[dict[str, Any]]) -> list[str]:
    """Ids in the order the API promises: first start (as an instant), then id."""
    ordered = sorted(events, key=lambda e: (aware(e["starts_at"]), uuid.UUID(e["id"])))
    return [e["id"] for e in ordered]


def tombstone(app: Flask, object_id: str) -> Tombstone | None:
    with app.app_context():
        return get_session().get(Tombstone, uuid.UUID(object_id))


@pytest.fixture
def publish(client: FlaskClient, admin: dict[str, str]) -> Maker:
    """Publish an event through the API (as the instance admin unless `headers` is given)."""

    def publish(
        coalition: str = "minneapolis", *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        response = client.post(
            f"/api/v1/coalitions/{coalition}/events",
            json=payload(**kwargs),
            headers=headers or admin,
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        created: dict[str, Any] = body(response)
        return created

    return publish


@pytest.fixture
def minneapolis(make_coalition: Maker) -> dict[str, Any]:
    return make_coalition()


@pytest.fixture
def two_coalitions(make_coalition: Maker) -> None:
    """Minneapolis (America/Chicago) and New York (America/New_York), in different cities."""
    make_coalition()
    make_coalition(
        slug="new-york",
        name="New York Solidarity Network",
        city="New York",
        city_slug="new-york",
        timezone="America/New_York",
    )


def listed_ids(client: FlaskClient, **params: Any) -> list[str]:
    return [item["id"] for item in walk(client, **params)]


# Publishing and reading


@pytest.mark.usefixtures("minneapolis")
def test_publish_returns_every_field(
    client: FlaskClient, admin: dict[str, str], make_campaign: Maker
) -> None:
    campaign = make_campaign()
    data = payload(
        title="Noise demo at the detention center",
        description="Pots, pans and drums.",
        kind="noise_demo",
        tags=["day-of-action", "ice-out"],
        online_url="https://example.org/live",
        language="es",
        campaign_id=campaign["id"],
        status="tentative",
    )

    response = client.post("/api/v1/coalitions/minneapolis/events", json=data, headers=admin)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = body(response)
    assert set(created) == EVENT_FIELDS
    for field in (
        "title",
        "description",
        "starts_at",
        "ends_at",
        "location",
        "online_url",
        "kind",
        "tags",
        "status",
        "language",
        "campaign_id",
    ):
        assert created[field] == data[field], field
    assert uuid.UUID(created["id"])
    assert created["timezone"] == "America/Chicago"
    assert created["all_day"] is False
    assert created["rrule"] is None
    assert created["exdates"] == []
    assert created["coalition"] == "minneapolis"
    assert created["origin"] == BASE_URL
    assert created["version"] == 1
    assert created["url"] == f"{BASE_URL}/events/{created['id']}"
    assert aware(created["created_at"]) <= aware(created["updated_at"])
    assert client.get(f"/api/v1/events/{created['id']}").json == created


@pytest.mark.usefixtures("minneapolis")
def test_minimal_event_gets_the_defaults(client: FlaskClient, admin: dict[str, str]) -> None:
    data = {"title": "Picket", "starts_at": iso(START), "ends_at": iso(END), "kind": "picket"}

    response = client.post("/api/v1/coalitions/minneapolis/events", json=data, headers=admin)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = body(response)
    assert created["description"] == ""
    assert created["status"] == "confirmed"
    assert created["timezone"] == "America/Chicago"
    assert created["all_day"] is False
    assert created["tags"] == []
    assert created["exdates"] == []
    for field in ("rrule", "location", "online_url", "language", "campaign_id"):
        assert created[field] is None, field


@pytest.mark.usefixtures("two_coalitions")
def test_timezone_defaults_to_the_coalitions_and_times_are_shown_in_it(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    starts_at = local(30, 18, zone=NEW_YORK)
    data = payload(
        starts_at=iso(starts_at.astimezone(dt.UTC)),
        ends_at=iso((starts_at + HOUR).astimezone(dt.UTC)),
    )

    response = client.post("/api/v1/coalitions/new-york/events", json=data, headers=admin)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = body(response)
    assert created["timezone"] == "America/New_York"
    # Sent in UTC, shown as the organizers' wall clock: 18:00 in New York, the same instant.
    assert created["starts_at"] == iso(starts_at)
    assert created["ends_at"] == iso(starts_at + HOUR)


@pytest.mark.usefixtures("minneapolis")
def test_explicit_timezone_overrides_the_coalitions(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    data = payload(timezone="America/Los_Angeles")

    response = client.post("/api/v1/coalitions/minneapolis/events", json=data, headers=admin)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = body(response)
    assert created["timezone"] == "America/Los_Angeles"
    assert created["starts_at"] == iso(START.astimezone(LOS_ANGELES))
    assert aware(created["starts_at"]) == START


@pytest.mark.usefixtures("minneapolis")
def test_all_day_event_runs_midnight_to_midnight_in_its_own_zone(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    la_day = payload(
        starts_at=iso(local(20, zone=LOS_ANGELES)),
        ends_at=iso(local(22, zone=LOS_ANGELES)),
        timezone="America/Los_Angeles",
        all_day=True,
    )
    chicago_midnights_in_la = payload(
        starts_at=iso(local(20)),
        ends_at=iso(local(21)),
        timezone="America/Los_Angeles",
        all_day=True,
    )

    accepted = client.post("/api/v1/coalitions/minneapolis/events", json=la_day, headers=admin)
    refused = client.post(
        "/api/v1/coalitions/minneapolis/events", json=chicago_midnights_in_la, headers=admin
    )

    assert accepted.status_code == 201, accepted.get_data(as_text=True)
    assert body(accepted)["all_day"] is True
    assert body(accepted)["starts_at"] == iso(local(20, zone=LOS_ANGELES))
    assert {"starts_at", "ends_at"} <= set(error_fields(refused))


@pytest.mark.usefixtures("minneapolis")
def test_nightly_series_is_stored_as_sent(client: FlaskClient, admin: dict[str, str]) -> None:
    skipped = [local(33, 19), local(32, 19)]
    data = payload(
        days=30,
        kind="noise_demo",
        rrule=f"freq=daily;until={until(local(40, 23))}",
        # The same occurrence twice, once in UTC: kept once, shown in the event's zone, in order.
        exdates=[iso(skipped[0]), iso(skipped[1]), iso(skipped[1].astimezone(dt.UTC))],
    )

    response = client.post("/api/v1/coalitions/minneapolis/events", json=data, headers=admin)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = body(response)
    assert created["rrule"] == f"FREQ=DAILY;UNTIL={until(local(40, 23))}"
    assert created["exdates"] == [iso(skipped[1]), iso(skipped[0])]
    assert created["starts_at"] == iso(START)


def test_publish_for_unknown_coalition_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post("/api/v1/coalitions/atlantis/events", json=payload(), headers=admin)

    assert response.status_code == 404
    assert body(response)["message"]


@pytest.mark.parametrize("event_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_get_unknown_event_is_404(client: FlaskClient, event_id: str) -> None:
    response = client.get(f"/api/v1/events/{event_id}")

    assert response.status_code == 404
    assert body(response)["code"] == 404


# Validation

OTHER_WEEKDAY = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][(START.weekday() + 1) % 7]
INVALID = [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"ends_at": iso(START - HOUR)}, "ends_at"),
    ({"ends_at": iso(START)}, "ends_at"),
    # Later on the wall clock (19:30 in New York) but earlier as an instant (18:30 in Chicago).
    ({"ends_at": iso(local(30, 19, 30, zone=NEW_YORK))}, "ends_at"),
    ({"starts_at": START.replace(tzinfo=None).isoformat()}, "starts_at"),
    ({"ends_at": END.replace(tzinfo=None).isoformat()}, "ends_at"),
    ({"starts_at": "next Saturday"}, "starts_at"),
    ({"starts_at": "1850-01-01T00:00:00+00:00"}, "starts_at"),
    ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
    ({"rrule": "FREQ=HOURLY;COUNT=3"}, "rrule"),
    ({"rrule": "FREQ=MINUTELY"}, "rrule"),
    ({"rrule": "RRULE:FREQ=DAILY;COUNT=3"}, "rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=three"}, "rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=3\nFREQ=WEEKLY"}, "rrule"),
    ({"rrule": "FREQ=DAILY;BYEASTER=0"}, "rrule"),
    ({"rrule": "FREQ=DAILY;INTERVAL=0"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;INTERVAL=00;COUNT=2"}, "rrule"),
    ({"rrule": f"FREQ=DAILY;COUNT=3;UNTIL={until(local(40))}"}, "rrule"),
    ({"rrule": f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}"}, "rrule"),
    ({"rrule": f"FREQ=WEEKLY;BYDAY={OTHER_WEEKDAY};COUNT=4"}, "rrule"),
    ({"rrule": ""}, "rrule"),
    ({"rrule": "FREQ=DAILY;" + "COUNT=3;" * 70}, "rrule"),
    ({"all_day": True}, "starts_at"),
    ({"all_day": True, "starts_at": iso(local(30))}, "ends_at"),
    ({"exdates": [iso(START + DAY)]}, "exdates"),
    ({"rrule": "FREQ=DAILY;COUNT=3", "exdates": [iso(START + HOUR)]}, "exdates"),
    ({"rrule": "FREQ=DAILY;COUNT=3", "exdates": [iso(START + 3 * DAY)]}, "exdates"),
    (
        {
            "rrule": "FREQ=DAILY;COUNT=3",
            "exdates": [(START + DAY).replace(tzinfo=None).isoformat()],
        },
        "exdates",
    ),
    ({"rrule": "FREQ=DAILY;COUNT=2", "exdates": [iso(START), iso(START + DAY)]}, "rrule"),
    ({"location": {"latitude": 90.5, "longitude": 0}}, ("location", "latitude")),
    ({"location": {"latitude": -91, "longitude": 0}}, ("location", "latitude")),
    ({"location": {"latitude": 0, "longitude": 180.01}}, ("location", "longitude")),
    ({"location": {"latitude": 0, "longitude": -181}}, ("location", "longitude")),
    ({"location": {"latitude": "north"}}, ("location", "latitude")),
    ({"location": {"name": "x" * 301}}, ("location", "name")),
    ({"location": {"address": "x" * 501}}, ("location", "address")),
    ({"location": {"floor": 3}}, ("location", "floor")),
    ({"color": "red"}, "color"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"version": 7}, "version"),
    ({"coalition": "new-york"}, "coalition"),
    ({"origin": "https://elsewhere.example"}, "origin"),
    ({"title": ""}, "title"),
    ({"title": "x" * 501}, "title"),
    ({"title": "nul\x00byte"}, "title"),
    ({"description": "x" * 20001}, "description"),
    ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
    ({"tags": ["x" * 41]}, "tags"),
    ({"tags": ["two words"]}, "tags"),
    ({"tags": [""]}, "tags"),
    ({"online_url": "ftp://example.org/stream"}, "online_url"),
    ({"online_url": "javascript:alert(1)"}, "online_url"),
    ({"online_url": "https://example.org/" + "x" * 2000}, "online_url"),
    ({"language": "English please"}, "language"),
    ({"kind": "riot"}, "kind"),
    ({"kind": "March"}, "kind"),
    ({"kind": None}, "kind"),
    ({"status": "postponed"}, "status"),
    ({"status": "Cancelled"}, "status"),
    ({"campaign_id": "not-a-uuid"}, "campaign_id"),
    ({"campaign_id": str(uuid.uuid4())}, "campaign_id"),
    ({"all_day": "sometimes"}, "all_day"),
]


@pytest.mark.usefixtures("minneapolis")
@pytest.mark.parametrize(
    ("overrides", "field"), INVALID, ids=[f"{n}-{f}" for n, (_, f) in enumerate(INVALID)]
)
def test_invalid_event_is_422_naming_the_field(
    client: FlaskClient,
    admin: dict[str, str],
    overrides: dict[str, Any],
    field: str | tuple[str, str],
) -> None:
    response = client.post(
        "/api/v1/coalitions/minneapolis/events", json=payload(**overrides), headers=admin
    )

    errors = error_fields(response)
    path = (field,) if isinstance(field, str) else field
    for key in path:
        assert key in errors, errors
        errors = errors[key]
    assert client.get("/api/v1/events").json == {"items": [], "next_cursor": None}


@pytest.mark.usefixtures("minneapolis")
def test_missing_required_fields_are_each_named(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/coalitions/minneapolis/events", json={"description": "?"}, headers=admin
    )

    assert {"title", "starts_at", "ends_at", "kind"} <= set(error_fields(response))


@pytest.mark.usefixtures("minneapolis")
def test_every_broken_rule_is_reported_at_once(client: FlaskClient, admin: dict[str, str]) -> None:
    data = payload(ends_at=iso(START - HOUR), campaign_id=str(uuid.uuid4()))

    response = client.post("/api/v1/coalitions/minneapolis/events", json=data, headers=admin)

    assert {"ends_at", "campaign_id"} <= set(error_fields(response))


@pytest.mark.usefixtures("minneapolis")
def test_latitude_that_is_not_a_number_is_422(client: FlaskClient, admin: dict[str, str]) -> None:
    raw = json.dumps(payload()).replace('"latitude": 44.9553', '"latitude": NaN')
    assert "NaN" in raw

    response = client.post(
        "/api/v1/coalitions/minneapolis/events",
        data=raw,
        content_type="application/json",
        headers=admin,
    )

    assert "latitude" in error_fields(response)["location"]
    assert body(client.get("/api/v1/events"))["items"] == []


@pytest.mark.usefixtures("minneapolis")
def test_boundaries_are_accepted(client: FlaskClient, admin: dict[str, str]) -> None:
    data = payload(
        title="x" * 500,
        tags=[f"t{n}" for n in range(19)] + ["x" * 40],
        location={"name": "x" * 300, "latitude": -90, "longitude": 180},
    )

    response = client.post("/api/v1/coalitions/minneapolis/events", json=data, headers=admin)

    assert response.status_code == 201, response.get_data(as_text=True)
    created = body(response)
    assert created["title"] == "x" * 500
    assert len(created["tags"]) == 20
    assert created["location"] == {
        "name": "x" * 300,
        "address": None,
        "latitude": -90,
        "longitude": 180,
    }


# Editing, cancelling, deleting


@pytest.mark.usefixtures("minneapolis")
def test_each_change_bumps_the_version(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish()
    url = f"/api/v1/events/{created['id']}"

    retitled = client.patch(url, json={"title": "March to City Hall"}, headers=admin)
    moved = client.patch(
        url,
        json={"location": {"name": "City Hall", "latitude": 44.9773, "longitude": -93.2655}},
        headers=admin,
    )

    assert retitled.status_code == 200, retitled.get_data(as_text=True)
    assert body(retitled)["title"] == "March to City Hall"
    assert body(retitled)["version"] == 2
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert body(moved)["version"] == 3
    # `location` is replaced whole: the address not resent is gone.
    assert body(moved)["location"] == {
        "name": "City Hall",
        "address": None,
        "latitude": 44.9773,
        "longitude": -93.2655,
    }
    assert body(moved)["title"] == "March to City Hall"
    assert aware(body(moved)["updated_at"]) >= aware(created["updated_at"])
    assert body(moved)["created_at"] == created["created_at"]
    assert body(moved)["id"] == created["id"]
    assert client.get(url).json == body(moved)


@pytest.mark.usefixtures("minneapolis")
def test_patch_that_changes_nothing_keeps_the_version(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish(
        rrule="FREQ=DAILY;COUNT=5",
        exdates=[iso(START + DAY), iso(START + 3 * DAY)],
        tags=["day-of-action", "ice-out"],
    )
    url = f"/api/v1/events/{created['id']}"
    same = {
        "title": created["title"],
        # The same instants, rule, exdates and tags, spelled and ordered differently.
        "starts_at": iso(START.astimezone(dt.UTC)),
        "ends_at": iso(END.astimezone(NEW_YORK)),
        "rrule": "freq=daily;count=5",
        "exdates": [
            iso((START + 3 * DAY).astimezone(dt.UTC)),
            iso(START + DAY),
            iso(START + DAY),
        ],
        "tags": ["Day-Of-Action", "ICE-OUT"],
        "location": created["location"],
        "status": "confirmed",
    }

    empty = client.patch(url, json={}, headers=admin)
    resent = client.patch(url, json=same, headers=admin)

    assert empty.status_code == 200, empty.get_data(as_text=True)
    assert body(empty) == created
    assert resent.status_code == 200, resent.get_data(as_text=True)
    assert body(resent) == created
    assert client.get(url).json == created


@pytest.mark.usefixtures("minneapolis")
def test_changing_the_timezone_moves_the_clock_not_the_instant(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish()

    response = client.patch(
        f"/api/v1/events/{created['id']}", json={"timezone": "America/New_York"}, headers=admin
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    patched = body(response)
    assert patched["timezone"] == "America/New_York"
    assert patched["starts_at"] == iso(START.astimezone(NEW_YORK))
    assert aware(patched["starts_at"]) == aware(created["starts_at"])
    assert patched["version"] == created["version"] + 1


@pytest.mark.usefixtures("minneapolis")
def test_recurrence_can_be_added_and_removed(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish()
    url = f"/api/v1/events/{created['id']}"
    # Two days on, when the series has a night and the single event does not.
    window = {"from": iso(START + 2 * DAY), "to": iso(START + 3 * DAY)}

    recurring = client.patch(
        url,
        json={"rrule": "FREQ=DAILY;COUNT=4", "exdates": [iso(START + DAY)]},
        headers=admin,
    )
    listed_as_series = listed_ids(client, **window)
    single = client.patch(url, json={"rrule": None, "exdates": []}, headers=admin)

    assert recurring.status_code == 200, recurring.get_data(as_text=True)
    assert body(recurring)["rrule"] == "FREQ=DAILY;COUNT=4"
    assert body(recurring)["exdates"] == [iso(START + DAY)]
    assert listed_as_series == [created["id"]]
    assert single.status_code == 200, single.get_data(as_text=True)
    assert body(single)["rrule"] is None
    assert body(single)["exdates"] == []
    assert body(single)["version"] == created["version"] + 2
    assert listed_ids(client, **window) == []


@pytest.mark.usefixtures("minneapolis")
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ends_at": iso(START - HOUR)}, "ends_at"),
        ({"starts_at": iso(END + HOUR)}, "ends_at"),
        ({"starts_at": START.replace(tzinfo=None).isoformat()}, "starts_at"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"all_day": True}, "starts_at"),
        ({"exdates": [iso(START + DAY)]}, "exdates"),
        ({"rrule": f"FREQ=WEEKLY;BYDAY={OTHER_WEEKDAY}"}, "rrule"),
        ({"rrule": "FREQ=SECONDLY"}, "rrule"),
        ({"location": {"latitude": 100}}, "location"),
        ({"title": None}, "title"),
        ({"kind": "party"}, "kind"),
        ({"status": "done"}, "status"),
        ({"campaign_id": str(uuid.uuid4())}, "campaign_id"),
        ({"coalition": "new-york"}, "coalition"),
        ({"version": 1}, "version"),
        ({"url": "https://elsewhere.example/events/1"}, "url"),
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    publish: Maker,
    changes: dict[str, Any],
    field: str,
) -> None:
    created = publish()
    url = f"/api/v1/events/{created['id']}"

    response = client.patch(url, json=changes, headers=admin)

    assert field in error_fields(response)
    assert client.get(url).json == created


@pytest.mark.usefixtures("minneapolis")
def test_an_action_too_large_to_federate_is_refused_and_nothing_is_written(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    # 20,000 characters are allowed, but peers refuse envelopes over 64 KiB: 20,000 emoji
    # take 80,000 bytes. Accepted, the action would silently never reach another city.
    long_text = "\U0001f4e2" * 20_000
    head = client.get("/federation/v1/changes").json["next"]

    created = client.post(
        "/api/v1/coalitions/minneapolis/events", json=payload(description=long_text), headers=admin
    )
    assert "description" in error_fields(created)
    assert client.get("/api/v1/events").json["items"] == []

    event = publish()
    url = f"/api/v1/events/{event['id']}"
    edited = client.patch(url, json={"description": long_text}, headers=admin)
    assert "description" in error_fields(edited)
    assert client.get(url).json == event
    # Peers see the one action as it was published, nothing of the refused writes.
    changes = client.get("/federation/v1/changes", query_string={"after": head}).json["items"]
    assert [(item["type"], item["data"]["title"]) for item in changes] == [
        ("Event", event["title"])
    ]


@pytest.mark.usefixtures("minneapolis")
def test_patch_is_checked_against_the_stored_series(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish(rrule="FREQ=DAILY;COUNT=5", exdates=[iso(START + 2 * DAY)])
    url = f"/api/v1/events/{created['id']}"

    # Moving the series by an hour orphans the stored exdate; dropping the rule does too.
    moved = client.patch(
        url, json={"starts_at": iso(START + HOUR), "ends_at": iso(END + HOUR)}, headers=admin
    )
    unruled = client.patch(url, json={"rrule": None}, headers=admin)

    assert "exdates" in error_fields(moved)
    assert "exdates" in error_fields(unruled)
    assert client.get(url).json == created


def test_patch_unknown_event_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.patch(f"/api/v1/events/{uuid.uuid4()}", json={"title": "x"}, headers=admin)

    assert response.status_code == 404


@pytest.mark.usefixtures("minneapolis")
def test_cancelled_event_stays_listed_as_cancelled(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish()
    kept = publish(title="Still on", days=31)

    response = client.patch(
        f"/api/v1/events/{created['id']}", json={"status": "cancelled"}, headers=admin
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert body(response)["status"] == "cancelled"
    assert body(response)["version"] == created["version"] + 1
    assert client.get(f"/api/v1/events/{created['id']}").json == body(response)
    listed = body(client.get("/api/v1/events"))["items"]
    assert [(e["id"], e["status"]) for e in listed] == [
        (created["id"], "cancelled"),
        (kept["id"], "confirmed"),
    ]
    assert listed_ids(client, status="cancelled") == [created["id"]]
    assert listed_ids(client, status="confirmed") == [kept["id"]]


@pytest.mark.usefixtures("minneapolis")
def test_deleted_event_is_gone_and_leaves_a_tombstone(
    app: Flask, client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    created = publish()
    kept = publish(title="Another action", days=31)
    url = f"/api/v1/events/{created['id']}"

    response = client.delete(url, headers=admin)

    assert response.status_code == 204
    assert response.get_data() == b""
    gone = client.get(url)
    assert gone.status_code == 410
    assert body(gone)["message"]
    assert listed_ids(client) == [kept["id"]]
    assert client.patch(url, json={"title": "Back"}, headers=admin).status_code == 410
    assert client.delete(url, headers=admin).status_code == 410
    buried = tombstone(app, created["id"])
    assert buried is not None
    assert buried.type == "Event"
    assert buried.origin == BASE_URL
    assert buried.version > created["version"]
    assert tombstone(app, kept["id"]) is None


def test_delete_unknown_event_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.delete(f"/api/v1/events/{uuid.uuid4()}", headers=admin).status_code == 404


# Listing and filters


@pytest.fixture
def catalogue(
    two_coalitions: None, make_campaign: Maker, publish: Maker
) -> dict[str, dict[str, Any]]:
    """Four actions of two coalitions in two cities, by title; two join one campaign."""
    campaign = make_campaign()
    events = [
        publish(
            title="March on the Capitol",
            kind="march",
            tags=["Day-Of-Action"],
            campaign_id=campaign["id"],
            days=10,
        ),
        publish(
            title="Riverside vigil",
            description="Candles at the river.",
            kind="vigil",
            tags=["faith"],
            status="tentative",
            days=11,
        ),
        publish(
            "new-york",
            title="General Strike 100%",
            kind="strike",
            tags=["day-of-action", "nurses"],
            campaign_id=campaign["id"],
            zone=NEW_YORK,
            days=12,
        ),
        publish(
            "new-york",
            title="Rally in Foley Square",
            kind="rally",
            tags=[],
            status="cancelled",
            zone=NEW_YORK,
            days=13,
        ),
    ]
    return {"campaign": campaign, **{e["title"]: e for e in events}}


MARCH, VIGIL, STRIKE, RALLY = (
    "March on the Capitol",
    "Riverside vigil",
    "General Strike 100%",
    "Rally in Foley Square",
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [MARCH, VIGIL, STRIKE, RALLY]),
        ({"city": "minneapolis"}, [MARCH, VIGIL]),
        ({"city": "new-york"}, [STRIKE, RALLY]),
        ({"city": "atlantis"}, []),
        ({"coalition": "new-york"}, [STRIKE, RALLY]),
        ({"coalition": "minneapolis"}, [MARCH, VIGIL]),
        ({"coalition": "nobody"}, []),
        ({"campaign": "CAMPAIGN"}, [MARCH, STRIKE]),
        ({"campaign": str(uuid.uuid4())}, []),
        ({"kind": "strike"}, [STRIKE]),
        ({"kind": "boycott"}, []),
        ({"tag": "day-of-action"}, [MARCH, STRIKE]),
        ({"tag": "DAY-OF-ACTION"}, [MARCH, STRIKE]),
        ({"tag": "Nurses"}, [STRIKE]),
        ({"tag": "nurse"}, []),
        ({"status": "confirmed"}, [MARCH, STRIKE]),
        ({"status": "tentative"}, [VIGIL]),
        ({"status": "cancelled"}, [RALLY]),
        ({"q": "candles"}, [VIGIL]),
        ({"q": "GENERAL strike"}, [STRIKE]),
        ({"q": "100%"}, [STRIKE]),
        ({"q": "%"}, [STRIKE]),
        ({"q": "_"}, []),
        ({"q": "bring signs"}, [MARCH, STRIKE, RALLY]),
        ({"city": "new-york", "kind": "rally"}, [RALLY]),
        ({"coalition": "minneapolis", "tag": "faith"}, [VIGIL]),
        ({"campaign": "CAMPAIGN", "city": "minneapolis"}, [MARCH]),
        ({"tag": "day-of-action", "status": "cancelled"}, []),
    ],
)
def test_list_filters(
    client: FlaskClient,
    catalogue: dict[str, dict[str, Any]],
    query: dict[str, str],
    expected: list[str],
) -> None:
    if query.get("campaign") == "CAMPAIGN":
        query = {**query, "campaign": catalogue["campaign"]["id"]}

    response = client.get("/api/v1/events", query_string=query)

    assert titles(response) == expected
    assert body(response)["next_cursor"] is None


@pytest.mark.usefixtures("minneapolis")
@pytest.mark.parametrize(
    "q",
    [
        "acción",
        "Día",
        "ACCIÓN",
        "DÍA DE",
    ],
)
def test_text_search_ignores_case_beyond_ascii(client: FlaskClient, publish: Maker, q: str) -> None:
    publish(title="Día de Acción", description="Marcha", language="es")
    publish(title="Teach-in", kind="teach_in", description="Bring a friend.")

    assert titles(client.get("/api/v1/events", query_string={"q": q})) == ["Día de Acción"]


def test_listed_events_are_the_full_representation(
    client: FlaskClient, catalogue: dict[str, dict[str, Any]]
) -> None:
    listed = body(client.get("/api/v1/events", query_string={"coalition": "new-york"}))

    assert set(listed) == {"items", "next_cursor"}
    assert listed["items"] == [catalogue[STRIKE], catalogue[RALLY]]


@pytest.mark.usefixtures("two_coalitions")
def test_parallel_actions_of_other_coalitions_join_a_campaign(
    client: FlaskClient, make_campaign: Maker, publish: Maker, coalition_token: TokenMaker
) -> None:
    campaign = make_campaign()  # called by Minneapolis
    new_york = coalition_token("new-york")

    joined = publish("new-york", headers=new_york, campaign_id=campaign["id"], zone=NEW_YORK)
    own = publish(campaign_id=campaign["id"], days=31)

    assert joined["campaign_id"] == campaign["id"]
    assert listed_ids(client, campaign=campaign["id"]) == [joined["id"], own["id"]]


# Occurrence windows: from/to against single events and series

WINDOW_FROM = local(20)
WINDOW_TO = local(21)


def nightly(first_day: int, **rule: Any) -> dict[str, Any]:
    return {"days": first_day, "hour": 21, "kind": "noise_demo", **rule}


WINDOW_EVENTS: dict[str, dict[str, Any]] = {
    "inside": {"days": 20, "hour": 12, "hours": 3},
    "overnight into the window": {"days": 19, "hour": 22, "hours": 3},
    "ends as the window opens": {"days": 19, "hour": 22, "hours": 2},
    "starts as the window closes": {"days": 21, "hour": 0},
    "long before": {"days": 5},
    "all day before": {
        "starts_at": iso(local(19)),
        "ends_at": iso(local(20)),
        "all_day": True,
    },
    "all day inside": {
        "starts_at": iso(local(20)),
        "ends_at": iso(local(21)),
        "all_day": True,
    },
    "nightly through the window": nightly(10, rrule=f"FREQ=DAILY;UNTIL={until(local(30, 23))}"),
    "nightly, never ending": nightly(12, rrule="FREQ=DAILY"),
    "nightly, over before": nightly(5, rrule=f"FREQ=DAILY;UNTIL={until(local(15, 23))}"),
    "nightly, later": nightly(25, rrule="FREQ=DAILY"),
    "weekly, skipping the window": nightly(17, rrule="FREQ=WEEKLY;COUNT=10"),
    "nightly, window night excluded": nightly(
        18, rrule="FREQ=DAILY;COUNT=5", exdates=[iso(local(20, 21))]
    ),
    "nightly from the window, first night excluded": nightly(
        20, rrule="FREQ=DAILY;COUNT=3", exdates=[iso(local(20, 21))]
    ),
    "late nightly, last night runs into the window": {
        "days": 15,
        "hour": 23,
        "hours": 2,
        "rrule": "FREQ=DAILY;COUNT=5",
    },
    "nightly, window night kept": nightly(18, rrule="FREQ=DAILY;COUNT=5"),
}
IN_WINDOW = {
    "inside",
    "overnight into the window",
    "all day inside",
    "nightly through the window",
    "nightly, never ending",
    "late nightly, last night runs into the window",
    "nightly, window night kept",
}
# Everything with an occurrence still running after `from`.
AFTER_FROM = IN_WINDOW | {
    "starts as the window closes",
    "nightly, later",
    "weekly, skipping the window",
    "nightly, window night excluded",
    "nightly from the window, first night excluded",
}
# Everything with an occurrence starting before `to`.
BEFORE_TO = IN_WINDOW | {
    "ends as the window opens",
    "long before",
    "all day before",
    "nightly, over before",
    "weekly, skipping the window",
    "nightly, window night excluded",
}


@pytest.fixture
def window_events(minneapolis: dict[str, Any], publish: Maker) -> dict[str, dict[str, Any]]:
    return {title: publish(title=title, **spec) for title, spec in WINDOW_EVENTS.items()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"from": iso(WINDOW_FROM), "to": iso(WINDOW_TO)}, IN_WINDOW),
        # The same window given in UTC and in New York time: instants are what count.
        (
            {
                "from": iso(WINDOW_FROM.astimezone(dt.UTC)),
                "to": iso(WINDOW_TO.astimezone(NEW_YORK)),
            },
            IN_WINDOW,
        ),
        ({"from": iso(WINDOW_FROM)}, AFTER_FROM),
        ({"to": iso(WINDOW_TO)}, BEFORE_TO),
        ({}, set(WINDOW_EVENTS)),
    ],
    ids=["window", "window-other-offsets", "from-only", "to-only", "no-window"],
)
@pytest.mark.parametrize("limit", [2, 50])
def test_window_finds_events_with_an_occurrence_inside(
    client: FlaskClient,
    window_events: dict[str, dict[str, Any]],
    query: dict[str, str],
    expected: set[str],
    limit: int,
) -> None:
    listed = walk(client, limit=limit, **query)

    assert {e["title"] for e in listed} == expected
    # Each series once, at its first start, however many of its nights fall in the window.
    assert [e["id"] for e in listed] == in_listing_order(
        [window_events[title] for title in expected]
    )


@pytest.mark.usefixtures("minneapolis")
def test_window_combines_with_other_filters(client: FlaskClient, publish: Maker) -> None:
    demo = publish(title="Nightly noise demo", **nightly(10, rrule="FREQ=DAILY"))
    publish(title="Nightly vigil", **{**nightly(10, rrule="FREQ=DAILY"), "kind": "vigil"})
    publish(title="Noise demo, once", kind="noise_demo", days=40)

    listed = listed_ids(
        client, kind="noise_demo", **{"from": iso(WINDOW_FROM), "to": iso(WINDOW_TO)}
    )

    assert listed == [demo["id"]]


@pytest.mark.usefixtures("minneapolis")
def test_excluding_a_night_moves_the_series_out_of_the_window(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    demo = publish(**nightly(18, rrule="FREQ=DAILY;COUNT=5"))
    window = {"from": iso(WINDOW_FROM), "to": iso(WINDOW_TO)}
    assert listed_ids(client, **window) == [demo["id"]]

    response = client.patch(
        f"/api/v1/events/{demo['id']}", json={"exdates": [iso(local(20, 21))]}, headers=admin
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert listed_ids(client, **window) == []
    assert listed_ids(client, **{"from": iso(WINDOW_TO)}) == [demo["id"]]


def next_dst_change() -> int:
    """Days from today to the first day whose noon in Chicago has a new UTC offset."""
    for days in range(2, 400):
        if local(days, 12).utcoffset() != local(days - 1, 12).utcoffset():
            return days
    raise AssertionError("no daylight-saving change in Chicago within a year")


@pytest.mark.usefixtures("minneapolis")
def test_nightly_series_keeps_its_local_time_across_a_dst_change(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    change = next_dst_change()
    demo = publish(**nightly(change - 3, rrule="FREQ=DAILY;COUNT=7"))
    url = f"/api/v1/events/{demo['id']}"
    night_after = local(change + 1, 21)
    # Four times 24 hours after the first night: an hour off 21:00 once the clocks changed.
    drifted = local(change - 3, 21).astimezone(dt.UTC) + 4 * DAY
    assert drifted != night_after
    window = {"from": iso(night_after - HOUR / 2), "to": iso(night_after + HOUR / 2)}
    assert listed_ids(client, **window) == [demo["id"]]

    refused = client.patch(url, json={"exdates": [iso(drifted)]}, headers=admin)
    accepted = client.patch(url, json={"exdates": [iso(night_after)]}, headers=admin)

    assert "exdates" in error_fields(refused)
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert body(accepted)["exdates"] == [iso(night_after)]
    assert listed_ids(client, **window) == []


@pytest.mark.usefixtures("minneapolis")
def test_all_day_series_runs_until_a_date(
    client: FlaskClient, admin: dict[str, str], publish: Maker
) -> None:
    last_day = (TODAY + dt.timedelta(days=24)).strftime("%Y%m%d")
    all_day: dict[str, Any] = {
        "starts_at": iso(local(20)),
        "ends_at": iso(local(21)),
        "all_day": True,
    }
    encampment = publish(
        kind="other", rrule=f"FREQ=DAILY;UNTIL={last_day}", exdates=[iso(local(22))], **all_day
    )

    utc_until = client.post(
        "/api/v1/coalitions/minneapolis/events",
        json=payload(rrule=f"FREQ=DAILY;UNTIL={until(local(24))}", **all_day),
        headers=admin,
    )

    def on(day: int) -> list[str]:
        return listed_ids(client, **{"from": iso(local(day)), "to": iso(local(day + 1))})

    # Days 20 to 24 inclusive, but not the excluded 22nd.
    listed_on = {day: on(day) for day in range(19, 26)}
    assert {day for day, ids in listed_on.items() if ids} == {20, 21, 23, 24}
    assert all(ids == [encampment["id"]] for ids in listed_on.values() if ids)
    # RFC 5545: the UNTIL of a series of whole days is a date too.
    assert "rrule" in error_fields(utc_until)


# Invalid listing arguments

INVALID_QUERIES = [
    ({"kind": "riot"}, "kind"),
    ({"status": "postponed"}, "status"),
    ({"campaign": "not-a-uuid"}, "campaign"),
    ({"from": WINDOW_FROM.replace(tzinfo=None).isoformat()}, "from"),
    ({"to": "next week"}, "to"),
    ({"from": "1066-10-14T09:00:00+00:00"}, "from"),
    ({"from": iso(WINDOW_TO), "to": iso(WINDOW_FROM)}, "to"),
    ({"from": iso(WINDOW_FROM), "to": iso(WINDOW_FROM)}, "to"),
    ({"q": ""}, "q"),
    ({"q": "x" * 201}, "q"),
    ({"tag": ""}, "tag"),
    ({"tag": "x" * 41}, "tag"),
    ({"city": "x" * 65}, "city"),
    ({"coalition": "nul\x00"}, "coalition"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"limit": "lots"}, "limit"),
]


@pytest.mark.usefixtures("minneapolis")
@pytest.mark.parametrize(
    ("query", "field"),
    INVALID_QUERIES,
    ids=[f"{n}-{field}" for n, (_, field) in enumerate(INVALID_QUERIES)],
)
def test_invalid_listing_argument_is_422(
    client: FlaskClient, publish: Maker, query: dict[str, str], field: str
) -> None:
    publish()

    response = client.get("/api/v1/events", query_string=query)

    assert field in error_fields(response, "query")


# Pagination


@pytest.mark.usefixtures("minneapolis")
def test_pages_hold_50_by_default_and_up_to_200(client: FlaskClient, publish: Maker) -> None:
    created = [publish(title=f"Action {n}", days=1 + n % 7, hour=12 + n % 8) for n in range(51)]

    first = body(client.get("/api/v1/events"))
    second = body(client.get("/api/v1/events", query_string={"cursor": first["next_cursor"]}))
    whole = body(client.get("/api/v1/events", query_string={"limit": 200}))

    assert len(first["items"]) == 50
    assert first["next_cursor"]
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    assert [e["id"] for e in first["items"] + second["items"]] == in_listing_order(created)
    assert [e["id"] for e in whole["items"]] == in_listing_order(created)
    assert whole["next_cursor"] is None


@pytest.mark.usefixtures("two_coalitions")
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 200])
def test_walking_the_pages_yields_each_event_once_in_order(
    client: FlaskClient, publish: Maker, limit: int
) -> None:
    created = [
        # Noon in Chicago and 13:00 in New York are one instant: seven events start together.
        *(publish(title=f"Chicago noon {n}", days=20, hour=12) for n in range(4)),
        *(
            publish("new-york", title=f"NY one {n}", days=20, hour=13, zone=NEW_YORK)
            for n in range(3)
        ),
        publish(title="Earlier", days=20, hour=10),
        # Noon in New York, before noon in Chicago.
        publish("new-york", title="NY noon", days=20, hour=12, zone=NEW_YORK),
        publish(title="Later", days=20, hour=13),
        publish(title="Next day", days=21, hour=12),
    ]

    walked = walk(client, limit=limit)

    assert [e["id"] for e in walked] == in_listing_order(created)
    assert len({e["id"] for e in walked}) == len(created)
    assert [e["title"] for e in walked[:2]] == ["Earlier", "NY noon"]


@pytest.mark.usefixtures("minneapolis")
@pytest.mark.parametrize("limit", [1, 2])
def test_pages_stay_full_when_series_miss_the_window(
    client: FlaskClient, publish: Maker, limit: int
) -> None:
    """Series that SQL cannot rule out are checked one by one; pages are still filled."""
    meeting, missing = [], []
    for n in range(6):
        # Interleaved by start: every night from then on, or every night but the window's.
        meeting.append(publish(title=f"meets {n}", **nightly(4 + 2 * n, rrule="FREQ=DAILY")))
        missing.append(
            publish(
                title=f"misses {n}",
                **nightly(5 + 2 * n, rrule="FREQ=DAILY", exdates=[iso(local(20, 21))]),
            )
        )
    window = {"from": iso(WINDOW_FROM), "to": iso(WINDOW_TO)}

    walked = walk(client, limit=limit, **window)

    assert [e["id"] for e in walked] == in_listing_order(meeting)
    assert listed_ids(client, **{"from": iso(WINDOW_TO)}) == in_listing_order(meeting + missing)


TAMPERED_CURSORS = [
    ("not base64 at all!", "garbage"),
    (b64(b"\xff\xfe\xfd\x00"), "not utf-8"),
    (b64("a string"), "not a list"),
    (b64({"starts_at": iso(START), "id": str(uuid.uuid4())}), "an object"),
    (b64([]), "empty"),
    (b64([iso(START)]), "too short"),
    (b64([iso(START), str(uuid.uuid4()), str(uuid.uuid4())]), "too long"),
    (b64([iso(START), 5]), "number for the id"),
    (b64([iso(START), 1.5]), "float for the id"),
    (b64([iso(START), True]), "boolean for the id"),
    (b64([iso(START), None]), "null for the id"),
    (b64([iso(START), ["list"]]), "list for the id"),
    (b64([iso(START), "not-a-uuid"]), "text for the id"),
    (b64([1700000000, str(uuid.uuid4())]), "number for the start"),
    (b64([None, str(uuid.uuid4())]), "null for the start"),
    (b64([{"a": 1}, str(uuid.uuid4())]), "object for the start"),
    (b64([START.replace(tzinfo=None).isoformat(), str(uuid.uuid4())]), "naive start"),
    (b64(["0001-01-01T00:00:00+01:00", str(uuid.uuid4())]), "start before year 1 in UTC"),
    (b64(["9999-12-31T23:59:59-01:00", str(uuid.uuid4())]), "start after year 9999 in UTC"),
    (b64(["yesterday", str(uuid.uuid4())]), "words for the start"),
    ("x" * 1001, "too long a cursor"),
    ("abc\x00def", "NUL"),
]


@pytest.mark.usefixtures("minneapolis")
@pytest.mark.parametrize(
    "cursor", [c for c, _ in TAMPERED_CURSORS], ids=[name for _, name in TAMPERED_CURSORS]
)
def test_tampered_cursor_is_422(client: FlaskClient, publish: Maker, cursor: str) -> None:
    publish()

    response = client.get("/api/v1/events", query_string={"cursor": cursor, "limit": 1})

    assert "cursor" in error_fields(response, "query")


def test_cursor_of_another_listing_is_422(
    client: FlaskClient, make_coalition: Maker, publish: Maker
) -> None:
    make_coalition()
    make_coalition(slug="chicago", city="Chicago", city_slug="chicago")
    publish()
    coalitions_cursor = body(client.get("/api/v1/coalitions", query_string={"limit": 1}))[
        "next_cursor"
    ]
    assert coalitions_cursor

    response = client.get("/api/v1/events", query_string={"cursor": coalitions_cursor})

    assert "cursor" in error_fields(response, "query")


# Who may write


@pytest.fixture
def new_york_event(two_coalitions: None, publish: Maker) -> dict[str, Any]:
    return publish("new-york", title="Rally in Foley Square", zone=NEW_YORK)


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("sfed_not-a-real-token"), {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no-token", "unknown-token", "not-bearer"],
)
def test_writes_without_a_valid_token_are_401(
    client: FlaskClient, new_york_event: dict[str, Any], headers: dict[str, str]
) -> None:
    url = f"/api/v1/events/{new_york_event['id']}"

    created = client.post("/api/v1/coalitions/new-york/events", json=payload(), headers=headers)
    patched = client.patch(url, json={"title": "Hijacked"}, headers=headers)
    deleted = client.delete(url, headers=headers)

    for response in (created, patched, deleted):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert body(response)["code"] == 401
    assert client.get(url).json == new_york_event
    assert listed_ids(client) == [new_york_event["id"]]


def test_auth_is_checked_before_the_body(
    client: FlaskClient, new_york_event: dict[str, Any]
) -> None:
    response = client.patch(f"/api/v1/events/{new_york_event['id']}", json={"kind": "riot"})

    assert response.status_code == 401


def test_coalition_token_cannot_touch_another_coalitions_events(
    client: FlaskClient, new_york_event: dict[str, Any], coalition_token: TokenMaker
) -> None:
    minneapolis = coalition_token("minneapolis")
    url = f"/api/v1/events/{new_york_event['id']}"

    created = client.post(
        "/api/v1/coalitions/new-york/events", json=payload(zone=NEW_YORK), headers=minneapolis
    )
    patched = client.patch(url, json={"title": "Hijacked"}, headers=minneapolis)
    cancelled = client.patch(url, json={"status": "cancelled"}, headers=minneapolis)
    deleted = client.delete(url, headers=minneapolis)

    for response in (created, patched, cancelled, deleted):
        assert response.status_code == 403
        assert body(response)["code"] == 403
        assert body(response)["message"]
    assert client.get(url).json == new_york_event
    assert listed_ids(client) == [new_york_event["id"]]


def test_coalition_token_manages_its_own_events(
    client: FlaskClient, new_york_event: dict[str, Any], coalition_token: TokenMaker
) -> None:
    new_york = coalition_token("new-york")
    url = f"/api/v1/events/{new_york_event['id']}"

    created = client.post(
        "/api/v1/coalitions/new-york/events", json=payload(zone=NEW_YORK), headers=new_york
    )
    patched = client.patch(url, json={"title": "Rally at City Hall"}, headers=new_york)
    deleted = client.delete(f"/api/v1/events/{body(created)['id']}", headers=new_york)

    assert created.status_code == 201, created.get_data(as_text=True)
    assert body(created)["coalition"] == "new-york"
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert body(patched)["title"] == "Rally at City Hall"
    assert deleted.status_code == 204
    assert listed_ids(client) == [new_york_event["id"]]


def test_instance_admin_manages_every_coalitions_events(
    client: FlaskClient, admin: dict[str, str], new_york_event: dict[str, Any], publish: Maker
) -> None:
    minneapolis_event = publish()

    patched = client.patch(
        f"/api/v1/events/{new_york_event['id']}", json={"status": "tentative"}, headers=admin
    )
    deleted = client.delete(f"/api/v1/events/{minneapolis_event['id']}", headers=admin)

    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert body(patched)["status"] == "tentative"
    assert deleted.status_code == 204
    assert listed_ids(client) == [new_york_event["id"]]
