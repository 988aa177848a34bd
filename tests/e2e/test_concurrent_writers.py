"""The sync worker and the API's writers at once, on one database: the worker's round and every
write through the API succeed (or, for an edit that lost a race, get 409), on SQLite too."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from conftest import coalition_payload, event_payload
from instances import Instance, start_instance
from servers import flask

from federation.sync.ingest import local_slug

# The fixture, imported so that pytest finds it in this module.
__all__ = ["start_instance"]

EVENTS = 2000  # four snapshot pages: a round of a few seconds
WRITERS = 8


def _picket(number: int) -> dict[str, Any]:
    return event_payload(
        title=f"Picket line {number}",
        starts_at=f"2027-02-{number % 28 + 1:02d}T08:00:00-06:00",
        ends_at=f"2027-02-{number % 28 + 1:02d}T10:00:00-06:00",
    )


def test_the_sync_worker_and_api_writers_share_the_database(
    start_instance: Callable[..., Instance],
) -> None:
    mpls = start_instance("minneapolis")
    nyc = start_instance("new-york")
    mpls.json("POST", "/api/v1/coalitions", 201, json=coalition_payload(slug="twin-cities"))
    for start in range(0, EVENTS, 500):
        mpls.publish_events("twin-cities", [_picket(n) for n in range(start, start + 500)])
    nyc.json("POST", "/api/v1/coalitions", 201, json=coalition_payload(slug="nyc-labor"))
    hot = nyc.json("POST", "/api/v1/coalitions/nyc-labor/events", 201, json=event_payload())
    nyc.add_peer(mpls)

    statuses: Counter[int] = Counter()
    failures: list[str] = []
    syncing = threading.Event()
    done = threading.Event()

    def write(number: int) -> None:
        syncing.wait(30)
        count = 0
        while not done.is_set():
            count += 1
            if number % 2:
                response = nyc.request(
                    "POST", "/api/v1/coalitions/nyc-labor/events", json=event_payload()
                )
            else:
                body = {"title": f"Rally {number}-{count}"}
                response = nyc.request("PATCH", f"/api/v1/events/{hot['id']}", json=body)
            statuses[response.status_code] += 1
            if response.status_code not in (200, 201, 409):
                failures.append(response.text)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in writers:
        thread.start()
    try:
        syncing.set()
        # `flask federation sync`, as the worker runs it, while the writers keep writing.
        round_ = flask(nyc.env, "federation", "sync")
    finally:
        done.set()
        for thread in writers:
            thread.join(60)

    assert round_.returncode == 0, (round_.stdout, round_.stderr)
    assert f"{EVENTS + 1} applied" in round_.stdout, round_.stdout
    assert not failures, (statuses, failures[:3])
    assert statuses[200] + statuses[201] > WRITERS, statuses
    copies = nyc.everything(coalition=local_slug("twin-cities", mpls.base))
    assert len(copies) == EVENTS
