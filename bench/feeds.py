"""Feed benchmark: what serving /feeds/all.ics costs, against rendering it with icalendar.

10,000 events across three zones, 10% recurring, ~200-character UTF-8 descriptions. Prints,
from one run: (a) the baseline, rendering the whole feed with icalendar per request; (b) our
endpoint with no whole-feed cache (per-event blocks already stored, as after any write); (c) a
conditional re-poll answered 304. Run with `make bench` or `.venv/bin/python bench/feeds.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from federation import create_app
from federation.db import get_session
from federation.feeds import CACHE_KEY
from federation.ical import CalendarInfo, render_calendar, render_event
from federation.migrate import upgrade
from federation.models import Event
from federation.services.auth import Actor
from federation.services.coalitions import create_coalition
from federation.services.events import publish_event
from federation.services.feeds import FeedCache

ZONES = {
    "minneapolis": "America/Chicago",
    "new-york": "America/New_York",
    "los-angeles": "America/Los_Angeles",
}
TEXT = (
    "Huelga general: ¡ni trabajo, ni escuela, ni compras! Shaqo joojin guud. "
    "Tsis ua hauj lwm, tsis mus kawm ntawv. Marchamos juntos desde el parque hasta la "
    "alcaldía — traigan agua, carteles y a un vecino. ✊ Solidaridad con todas las huelgas."
)[:200]


def timed(run: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` runs, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def populate(app, count: int) -> None:
    admin = Actor(token_id=uuid.uuid4(), coalition_id=None)
    base = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with app.app_context():
        session = get_session()
        coalitions = [
            create_coalition(
                session,
                admin,
                {"slug": slug, "name": slug, "city": slug, "city_slug": slug, "timezone": zone},
                origin=app.config["FEDERATION_BASE_URL"],
            )
            for slug, zone in ZONES.items()
        ]
        for index in range(count):
            coalition = coalitions[index % 3]
            zone = ZoneInfo(coalition.timezone)
            day = (base + dt.timedelta(hours=7 * index)).astimezone(zone)
            starts = day.replace(hour=17, minute=30, second=0, microsecond=0)
            data = {
                "title": f"Action {index}: piquete en la planta",
                "description": TEXT,
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=2),
                "kind": "picket",
                "tags": ["strike", f"site-{index % 17}"],
                "location": {"name": "Plant gate", "latitude": 44.95, "longitude": -93.1},
            }
            if index % 10 == 0:
                data["rrule"] = "FREQ=WEEKLY;COUNT=8"
            publish_event(session, admin, coalition, data, origin=app.config["FEDERATION_BASE_URL"])
            if index % 1000 == 999:
                session.commit()
        session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        app = create_app(
            {
                "FEDERATION_DATABASE_URL": url,
                "FEDERATION_BASE_URL": "https://bench.example",
                "FEDERATION_FEED_MAX_EVENTS": args.events * 2,
                # Throwaway signing keys: a benchmark must not write into instance/.
                "FEDERATION_KEY_PATH": str(Path(tmp) / "federation-keys.json"),
            }
        )
        start = time.perf_counter()
        populate(app, args.events)
        print(f"setup: {args.events} events written in {time.perf_counter() - start:.1f} s")
        client = app.test_client()

        def baseline() -> bytes:
            # What a feed costs when icalendar renders every event on every request.
            with app.app_context():
                events = get_session().scalars(select(Event).order_by(Event.starts_at, Event.id))
                info = CalendarInfo("all", "all", "https://bench.example/feeds/all.ics")
                events = list(events)
                return render_calendar(
                    info,
                    (e.timezone for e in events),
                    [render_event(e) for e in events],
                    year=dt.date.today().year,
                )

        def uncached() -> None:
            app.extensions[CACHE_KEY] = FeedCache()
            response = client.get("/feeds/all.ics")
            assert response.status_code == 200

        first = client.get("/feeds/all.ics")
        vevents = first.data.count(b"BEGIN:VEVENT")
        assert vevents == args.events, vevents
        etag = first.headers["ETag"]

        def repoll() -> None:
            response = client.get("/feeds/all.ics", headers={"If-None-Match": etag})
            assert response.status_code == 304

        a = timed(baseline, 3)
        b = timed(uncached, 15)
        client.get("/feeds/all.ics")  # warm the whole-feed cache again
        c = timed(repoll, 300)

    size = len(first.data) / 1e6
    print(f"feed: {vevents} VEVENTs, {size:.1f} MB")
    print(f"(a) baseline, icalendar renders the whole feed per request: {a:9.1f} ms")
    print(
        f"(b) /feeds/all.ics, no whole-feed cache (stored blocks):    {b:9.1f} ms"
        f"   {a / b:6.0f}x faster than (a)   goal <= 50 ms, >= 60x"
    )
    print(
        f"(c) conditional re-poll, 304:                               {c:9.2f} ms"
        f"   {a / c:6.0f}x faster than (a)   goal <= 2 ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
