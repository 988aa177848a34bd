"""Recurrence against a real server: no rule, new or stored by an older release, can make a
listing or a page hang (the review's rule timed out `GET /` and far windows at 30 s)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import requests
from instances import Instance, start_instance
from sqlalchemy import delete, update

from federation.db import get_database
from federation.models import Event, Occurrence

__all__ = ["start_instance"]

# Far more than any of these requests takes, far less than the review's hangs.
ANSWERED_WITHIN = 15

EVERY_SECOND = (
    "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24)))
    + ";BYMINUTE=" + ",".join(map(str, range(60)))
    + ";BYSECOND=" + ",".join(map(str, range(60)))
)  # fmt: skip


def nightly(title: str, first: str, rrule: str = "FREQ=DAILY") -> dict[str, object]:
    return {
        "title": title,
        "kind": "noise_demo",
        "starts_at": f"{first}T19:00:00-06:00",
        "ends_at": f"{first}T20:00:00-06:00",
        "rrule": rrule,
    }


def test_no_rule_makes_a_listing_or_a_page_hang(start_instance: Callable[..., Instance]):
    mpls = start_instance("mpls")
    mpls.json(
        "POST",
        "/api/v1/coalitions",
        201,
        json={"slug": "mpls", "name": "Twin Cities", "city": "Minneapolis",
              "city_slug": "minneapolis", "timezone": "America/Chicago"},
    )  # fmt: skip
    events = "/api/v1/coalitions/mpls/events"

    refused = mpls.request("POST", events, json=nightly("Flood", "2020-01-01", EVERY_SECOND))
    assert refused.status_code == 422
    assert "a day" in refused.json()["errors"]["json"]["rrule"][0]

    old = mpls.json("POST", events, 201, json=nightly("Since 2001", "2001-01-01"))
    new = mpls.json("POST", events, 201, json=nightly("Since 2029", "2029-12-20"))
    # The review's rule, as an older release would have stored it: never indexed.
    stored = mpls.json("POST", events, 201, json=nightly("Stored flood", "2001-01-01"))
    with mpls.app() as app, get_database(app).engine.begin() as connection:
        stored_id = uuid.UUID(stored["id"])
        connection.execute(delete(Occurrence).where(Occurrence.event_id == stored_id))
        connection.execute(
            update(Event)
            .where(Event.id == stored_id)
            .values(rrule=EVERY_SECOND, series_ends_at=None, indexed_until=None)
        )

    window = {"from": "2030-01-02T00:00:00Z", "to": "2030-01-09T00:00:00Z"}
    listed = requests.get(f"{mpls.base}{events.replace('coalitions/mpls/', '')}", params=window,
                          timeout=ANSWERED_WITHIN)  # fmt: skip
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == [old["id"], new["id"]]
    for path in ("/", "/cities/minneapolis", "/coalitions/mpls", f"/events/{stored['id']}"):
        page = requests.get(f"{mpls.base}{path}", timeout=ANSWERED_WITHIN)
        assert page.status_code == 200, path
    feed = requests.get(f"{mpls.base}/feeds/coalitions/mpls.ics", timeout=ANSWERED_WITHIN)
    assert feed.status_code == 200
    assert feed.text.count("BEGIN:VEVENT") == 3
