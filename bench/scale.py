"""Scale benchmark: what a request costs is bounded by what it asks for, not by how much the
instance holds.

Two PostgreSQL instances hold the same upcoming actions (a week of them, ~1,000, and 100
open-ended nightly series begun over the last ten years); one of them also holds a million
more, written straight into the tables: half of them over the last ten years, half from two
months ahead to ten years ahead, so that neither "ends after `from`" nor "starts before `to`"
narrows a week's window much. Prints, for each request, its median on the big instance
against the small one (the baseline) and the ratio, which should be about 1: a week's window
of the API, the API with `from` alone, the home page and a city's uncached feed (both feeds
cut at 1,000 actions). Needs a PostgreSQL server on which it may create and drop
databases: `make bench-scale` or `.venv/bin/python bench/scale.py [--server URL]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from federation_sync import SERVER, databases
from flask import Flask
from recurrence import compared
from sqlalchemy import text

from federation import create_app
from federation.db import get_database, get_session
from federation.feeds import CACHE_KEY
from federation.services.auth import Actor
from federation.services.coalitions import create_coalition
from federation.services.events import publish_event
from federation.services.feeds import FeedCache

ZONE = ZoneInfo("America/Chicago")
ADMIN = Actor(token_id=uuid.uuid4(), coalition_id=None)
NOW = dt.datetime.now(dt.UTC)

# A million actions, one every ten minutes for ten years before now and again from two
# months ahead, with one index row each (what the application writes for a single action),
# in one statement per table.
HISTORY = """
INSERT INTO events (id, coalition_id, title, description, starts_at, ends_at, timezone,
    all_day, rrule, exdates, series_ends_at, kind, status, ical_block, origin, version,
    created_at, updated_at, indexed_until)
SELECT md5('history' || n)::uuid, :coalition, 'Other action ' || n, '', t, t + interval '2 hours',
    'America/Chicago', false, NULL, '[]', t + interval '2 hours', 'picket', 'confirmed',
    convert_to('BEGIN:VEVENT' || chr(13) || chr(10) || 'END:VEVENT' || chr(13) || chr(10), 'UTF8'),
    :origin, 1, t, t, '9999-12-31T00:00:00Z'
FROM (SELECT n, CASE WHEN n % 2 = 0 THEN :past ELSE :future END + (n / 2) * interval '10 minutes'
      AS t FROM generate_series(1, :count) AS n) AS s
"""
HISTORY_INDEX = """
INSERT INTO event_occurrences (event_id, starts_at, segment_start, ends_at)
SELECT id, starts_at, starts_at, ends_at FROM events WHERE title LIKE 'Other action %'
"""


def instance(url: str, tmp: Path, name: str) -> Flask:
    return create_app(
        {
            "FEDERATION_DATABASE_URL": url,
            "FEDERATION_BASE_URL": f"https://{name}.example",
            "FEDERATION_KEY_PATH": str(tmp / f"{name}-keys.json"),
            "FEDERATION_FEED_MAX_EVENTS": 1000,
        }
    )


def populate(app: Flask, history: int) -> None:
    """The upcoming actions both instances hold, and (when `history`) the million past ones."""
    origin = app.config["FEDERATION_BASE_URL"]
    with app.app_context():
        session = get_session()
        coalition = create_coalition(
            session,
            ADMIN,
            {"slug": "mpls", "name": "Twin Cities", "city": "Minneapolis",
             "city_slug": "minneapolis", "timezone": "America/Chicago"},
            origin=origin,
        )  # fmt: skip
        session.commit()
        start = dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time(6), ZONE)
        for index in range(1000):
            starts = start + dt.timedelta(minutes=10 * index)
            data = {"title": f"Picket {index}", "kind": "picket", "starts_at": starts,
                    "ends_at": starts + dt.timedelta(hours=2)}  # fmt: skip
            publish_event(session, ADMIN, coalition, data, origin=origin)
        for index in range(100):
            first = dt.datetime.combine(
                NOW.date() - dt.timedelta(days=37 * index), dt.time(19), ZONE
            )
            data = {"title": f"Nightly {index}", "kind": "noise_demo", "starts_at": first,
                    "ends_at": first + dt.timedelta(hours=1), "rrule": "FREQ=DAILY"}  # fmt: skip
            publish_event(session, ADMIN, coalition, data, origin=origin)
        session.commit()
        if history:
            past = NOW - dt.timedelta(minutes=10 * history // 2 + 60)
            future = NOW + dt.timedelta(days=60)
            params: dict[str, Any] = {"coalition": coalition.id, "origin": origin,
                                      "past": past, "future": future, "count": history}  # fmt: skip
            session.execute(text(HISTORY), params)
            session.execute(text(HISTORY_INDEX))
            session.commit()
            session.execute(text("ANALYZE"))
            session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server", default=SERVER, help=f"PostgreSQL server (default {SERVER})")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, databases(args.server, ("big", "small")) as urls:
        tmp = Path(name)
        big, small = instance(urls["big"], tmp, "big"), instance(urls["small"], tmp, "small")
        start = time.perf_counter()
        populate(small, 0)
        populate(big, args.history)
        with small.app_context():
            get_session().execute(text("ANALYZE"))
            get_session().commit()
        print(f"setup: {args.history} more actions written in {time.perf_counter() - start:.0f} s")

        week = {"from": (NOW + dt.timedelta(days=1)).isoformat(),
                "to": (NOW + dt.timedelta(days=8)).isoformat(), "limit": 50}  # fmt: skip
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("API, a week's window (first page of 50)", "/api/v1/events", week),
            (
                "API, `from` alone (first page of 50)",
                "/api/v1/events",
                {"from": NOW.isoformat(), "limit": 50},
            ),
            ("home page", "/", {}),
            ("city feed, uncached", "/feeds/cities/minneapolis.ics", {}),
        ]
        print(f"{'request':42} {'with 1M more':>13} {'without':>10} {'ratio':>6}")
        for label, path, query in requests:

            def get(
                app: Flask, path: str = path, query: dict[str, Any] = query
            ) -> Callable[[], None]:
                client = app.test_client()

                def run() -> None:
                    app.extensions[CACHE_KEY] = FeedCache()
                    response = client.get(path, query_string=query)
                    assert response.status_code == 200, response.data[:300]

                return run

            with_history, without = compared(get(big), get(small), args.repeat)
            print(
                f"{label:42} {with_history:9.1f} ms {without:7.1f} ms {with_history / without:6.2f}"
            )
        for app in (big, small):
            get_database(app).engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
