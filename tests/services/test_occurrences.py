"""The occurrence index: what window queries and pages read instead of expanding every rule.

What members notice is that a window lists the right actions, however old the series, and
that nothing stored (a rule an older release accepted, an action never indexed) can make a
listing wrong or slow. These tests write through the API, as organizers and peers do, and
look at the index only to set up the states that time or an older release would leave.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from federation.db import get_session
from federation.models import Event, Occurrence, utcnow
from federation.services import occurrences
from federation.services.occurrences import (
    HORIZON,
    INDEXED_FOREVER,
    MAX_INDEX_ROWS,
    PAST,
    horizon_at,
)

DAY = dt.timedelta(days=1)


def day(moment: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(moment.date(), dt.time(), dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def listed(client: FlaskClient, start: dt.datetime, end: dt.datetime) -> set[str]:
    response = client.get(
        "/api/v1/events", query_string={"from": iso(start), "to": iso(end), "limit": 200}
    )
    assert response.status_code == 200, response.json
    return {item["title"] for item in response.json["items"]}


def index_of(
    app: Flask, event_id: str
) -> tuple[list[dt.datetime], tuple[dt.datetime | None, dt.datetime | None]]:
    """The starts of the event's index rows (once per occurrence) and the span they cover."""
    with app.app_context():
        session = get_session()
        starts = session.scalars(
            select(Occurrence.starts_at)
            .where(Occurrence.event_id == uuid.UUID(event_id))
            .distinct()
            .order_by(Occurrence.starts_at)
        ).all()
        span = session.execute(
            select(Event.indexed_from, Event.indexed_until).where(Event.id == uuid.UUID(event_id))
        ).one_or_none()
        return list(starts), (span[0], span[1]) if span else (None, None)


def nightly_since(start: dt.datetime, **extra: Any) -> dict[str, Any]:
    """A 19:00-21:00 nightly noise demonstration, open-ended, in Chicago."""
    local = start.astimezone(dt.timezone(dt.timedelta(hours=-6))).replace(hour=19, minute=0)
    return {
        "title": "Nightly noise demo",
        "kind": "noise_demo",
        "starts_at": iso(local.replace(second=0, microsecond=0)),
        "ends_at": iso(local.replace(second=0, microsecond=0) + dt.timedelta(hours=2)),
        "timezone": "Etc/GMT+6",
        "rrule": "FREQ=DAILY",
        "location": None,
        **extra,
    }


@pytest.fixture
def mpls(make_coalition: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return make_coalition()


def test_an_open_ended_series_is_indexed_around_now_and_found_far_from_it(
    app: Flask, client: FlaskClient, mpls: Any, make_event: Callable[..., dict[str, Any]]
):
    """A nightly series started years ago is indexed from a year back to a year ahead; its
    first nights, and nights decades ahead, are still listed (expanded from the window, not
    from 2015)."""
    now = utcnow()
    event = make_event(**nightly_since(dt.datetime(2015, 3, 2, tzinfo=dt.UTC)))

    starts, span = index_of(app, event["id"])
    assert span == (day(now - PAST), horizon_at(now))
    assert day(now - PAST) - DAY < starts[0] <= day(now - PAST) + DAY
    assert horizon_at(now) - 2 * DAY < starts[-1] < horizon_at(now)
    assert len(starts) == (starts[-1] - starts[0]) // DAY + 1

    first_night = dt.datetime(2015, 3, 2, 1, tzinfo=dt.UTC)  # 19:00 at UTC-6
    for window_start in (
        first_night,
        dt.datetime(2019, 7, 1, tzinfo=dt.UTC),
        now,
        now + HORIZON + 30 * DAY,
        dt.datetime(2150, 6, 1, tzinfo=dt.UTC),
    ):
        assert listed(client, window_start, window_start + DAY) == {"Nightly noise demo"}
    assert listed(client, first_night - 2 * DAY, first_night) == set()
    # The evening's demonstration ends at 03:00 UTC: a window opening at 02:00 still has it.
    for evening in (dt.datetime(2017, 5, 5, 2, tzinfo=dt.UTC), now.replace(hour=2) + DAY):
        assert listed(client, evening, evening + dt.timedelta(minutes=30)) == {"Nightly noise demo"}
        later = evening + dt.timedelta(hours=1)
        assert listed(client, later, later + dt.timedelta(hours=1)) == set()


def test_a_window_is_answered_by_the_index(
    app: Flask, client: FlaskClient, mpls: Any, make_event: Callable[..., dict[str, Any]]
):
    """Within the horizon, the index is what answers: a series whose rows are gone (but that
    claims to be indexed) is not listed there, and is again once re-indexed."""
    event = make_event(**nightly_since(utcnow() - 10 * DAY))
    window = (utcnow() + 5 * DAY, utcnow() + 6 * DAY)
    assert listed(client, *window) == {"Nightly noise demo"}

    with app.app_context():
        session = get_session()
        session.execute(delete(Occurrence).where(Occurrence.event_id == uuid.UUID(event["id"])))
        session.commit()
    assert listed(client, *window) == set()

    with app.app_context():
        session = get_session()
        session.execute(
            update(Event).where(Event.id == uuid.UUID(event["id"])).values(indexed_until=None)
        )
        session.commit()
        # An action that was never indexed is expanded, then indexed by the next round.
        assert listed(client, *window) == {"Nightly noise demo"}
        assert occurrences.extend_index(get_session()) == 1
        get_session().commit()
    assert index_of(app, event["id"])[1] == (None, horizon_at(utcnow()))
    assert listed(client, *window) == {"Nightly noise demo"}


def test_single_and_bounded_actions_are_indexed_whole(
    app: Flask, client: FlaskClient, mpls: Any, make_event: Callable[..., dict[str, Any]]
):
    """A three-day occupation has a row for each of its days (so a window in the middle
    finds it), a bounded series every occurrence, and neither needs extending."""
    occupation = make_event(
        title="Occupation",
        starts_at="2027-03-01T08:00:00-06:00",
        ends_at="2027-03-04T08:00:00-06:00",
    )
    weekly = make_event(
        title="Weekly picket",
        starts_at="2027-03-06T07:00:00-06:00",
        ends_at="2027-03-06T09:00:00-06:00",
        rrule="FREQ=WEEKLY;COUNT=4",
        exdates=["2027-03-13T07:00:00-06:00"],
    )
    assert index_of(app, occupation["id"])[1] == (None, INDEXED_FOREVER)
    with app.app_context():
        segments = get_session().scalar(
            select(func.count()).where(Occurrence.event_id == uuid.UUID(occupation["id"]))
        )
    assert segments == 3
    starts, span = index_of(app, weekly["id"])
    assert span == (None, INDEXED_FOREVER)
    # Chicago moves to UTC-5 on March 14: 07:00 stays 07:00.
    assert starts == [
        dt.datetime(2027, 3, 6, 13, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 20, 12, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 27, 12, tzinfo=dt.UTC),
    ]
    middle = dt.datetime(2027, 3, 2, 20, tzinfo=dt.UTC)
    assert listed(client, middle, middle + dt.timedelta(hours=1)) == {"Occupation"}
    skipped = dt.datetime(2027, 3, 13, 12, tzinfo=dt.UTC)
    assert listed(client, skipped, skipped + 2 * dt.timedelta(hours=1)) == set()


def test_rescheduling_moves_the_index_and_deleting_empties_it(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    mpls: Any,
    make_event: Callable[..., dict[str, Any]],
):
    event = make_event(title="Rally")
    january = (dt.datetime(2027, 1, 23, tzinfo=dt.UTC), dt.datetime(2027, 1, 24, tzinfo=dt.UTC))
    march = (dt.datetime(2027, 3, 6, tzinfo=dt.UTC), dt.datetime(2027, 3, 7, tzinfo=dt.UTC))
    assert listed(client, *january) == {"Rally"}

    moved = client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2027-03-06T12:00:00-06:00", "ends_at": "2027-03-06T15:00:00-06:00"},
        headers=admin,
    )
    assert moved.status_code == 200, moved.json
    assert listed(client, *january) == set()
    assert listed(client, *march) == {"Rally"}

    # Editing the title leaves the schedule, and its index, as they were.
    before = index_of(app, event["id"])
    renamed = client.patch(
        f"/api/v1/events/{event['id']}", json={"title": "Rally at noon"}, headers=admin
    )
    assert renamed.status_code == 200
    assert index_of(app, event["id"]) == before
    assert listed(client, *march) == {"Rally at noon"}

    assert client.delete(f"/api/v1/events/{event['id']}", headers=admin).status_code == 204
    assert index_of(app, event["id"]) == ([], (None, None))


def test_extending_moves_the_horizon_of_open_ended_series_only(
    app: Flask, client: FlaskClient, mpls: Any, make_event: Callable[..., dict[str, Any]]
):
    """Two months on, the worker indexes the nightly series a year ahead again; the single
    action, indexed whole, is left alone."""
    series = make_event(**nightly_since(utcnow()))
    single = make_event(title="Rally")
    later = utcnow() + 60 * DAY
    with app.app_context():
        session = get_session()
        assert occurrences.extend_index(session, now=utcnow()) == 0  # nothing due yet
        assert occurrences.extend_index(session, now=later) == 1
        session.commit()
    starts, span = index_of(app, series["id"])
    assert span == (None, horizon_at(later))
    assert len(starts) == len(set(starts))  # extended, not indexed twice
    assert starts[-1] > horizon_at(later) - 2 * DAY
    assert index_of(app, single["id"])[1] == (None, INDEXED_FOREVER)


def test_what_an_action_would_cost_the_index_is_bounded(
    client: FlaskClient, admin: dict[str, str], mpls: Any
):
    """Nightly occurrences that each last two months, or an action lasting sixty years, need
    more rows than one action may have: refused on the field that causes it. Eight shifts a
    day since 2019 are fine (they are indexed from a month back only)."""
    events = "/api/v1/coalitions/minneapolis/events"
    shifts = nightly_since(
        dt.datetime(2019, 1, 1, tzinfo=dt.UTC), rrule="FREQ=DAILY;BYHOUR=1,4,7,10,13,16,19,22"
    )
    shifts["starts_at"] = "2019-01-01T01:00:00-06:00"
    shifts["ends_at"] = "2019-01-01T02:00:00-06:00"
    accepted = client.post(events, json=shifts, headers=admin)
    assert accepted.status_code == 201, accepted.json

    monthlong = nightly_since(utcnow() - 350 * DAY)
    monthlong["ends_at"] = iso(dt.datetime.fromisoformat(monthlong["starts_at"]) + 60 * DAY)
    refused = client.post(events, json=monthlong, headers=admin)
    assert refused.status_code == 422
    assert str(MAX_INDEX_ROWS) in refused.json["errors"]["json"]["rrule"][0]
    monthlong["rrule"] = "FREQ=MONTHLY;INTERVAL=2"  # one every other month is fine
    assert client.post(events, json=monthlong, headers=admin).status_code == 201

    lifetime = {
        "title": "Boycott",
        "kind": "boycott",
        "starts_at": "2027-01-01T00:00:00Z",
        "ends_at": "2087-01-01T00:00:00Z",
    }
    refused = client.post(events, json=lifetime, headers=admin)
    assert refused.status_code == 422
    assert str(MAX_INDEX_ROWS) in refused.json["errors"]["json"]["ends_at"][0]
    lifetime["ends_at"] = "2028-01-01T00:00:00Z"  # a year-long boycott is one action
    accepted = client.post(events, json=lifetime, headers=admin)
    assert accepted.status_code == 201, accepted.json


FLOOD = (
    "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24)))
    + ";BYMINUTE=" + ",".join(map(str, range(60)))
    + ";BYSECOND=" + ",".join(map(str, range(60)))
)  # fmt: skip


@pytest.mark.parametrize("stored", [FLOOD, "FREQ=DAILY;COUNT=20000"], ids=["flood", "count"])
def test_a_rule_stored_by_an_older_release_is_shown_once_and_never_expanded(
    app: Flask,
    client: FlaskClient,
    mpls: Any,
    make_event: Callable[..., dict[str, Any]],
    stored: str,
):
    """Every second of every day since 2000 (or more nights than a series may have), written
    before rules were bounded: listings and pages answer, showing it at its first start only."""
    event = make_event(
        title="Old junk",
        **{"starts_at": "2000-01-01T00:00:00-06:00", "ends_at": "2000-01-01T01:00:00-06:00"},
    )
    with app.app_context():
        session = get_session()
        session.execute(delete(Occurrence).where(Occurrence.event_id == uuid.UUID(event["id"])))
        session.execute(
            update(Event)
            .where(Event.id == uuid.UUID(event["id"]))
            .values(rrule=stored, series_ends_at=None, indexed_until=None)
        )
        session.commit()

    far = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert listed(client, far, far + DAY) == set()
    first = dt.datetime(2000, 1, 1, 6, tzinfo=dt.UTC)
    assert listed(client, first, first + DAY) == {"Old junk"}
    assert client.get("/").status_code == 200
    assert client.get(f"/events/{event['id']}").status_code == 200
    with app.app_context():
        assert occurrences.extend_index(get_session()) == 1
        get_session().commit()
    assert index_of(app, event["id"]) == ([first], (None, INDEXED_FOREVER))
