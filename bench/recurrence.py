"""Recurrence benchmark: a window costs what it holds, not what a series did before it.

Prints, from one run, each figure against a baseline measured in the same run:
(a) `GET /api/v1/events?from&to` (a week) on a nightly series begun in 2001 against the same
    series begun last week: near windows (the occurrence index) and far ones, past the index's
    horizon (the rule expanded from the window); the ratio should be about 1. What the previous
    release did there (dateutil walking from the first start) is printed beside them.
(b) `GET /` with 1,000 open-ended nightly series begun over the last three years, against
    `GET /` with 1,000 single actions.
(c) publishing a series begun in 2001 with 500 skipped nights, against the same without.
Run with `make bench-recurrence` or `.venv/bin/python bench/recurrence.py`.
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
from typing import Any
from zoneinfo import ZoneInfo

from feeds import timed  # the feed benchmark's median timer
from flask import Flask

from federation import create_app
from federation.db import get_database, get_session
from federation.migrate import upgrade
from federation.recurrence import parse_series
from federation.services.auth import Actor
from federation.services.coalitions import create_coalition
from federation.services.events import publish_event
from federation.services.pages import PAGE_LIMIT

ZONE = ZoneInfo("America/Chicago")
ADMIN = Actor(token_id=uuid.uuid4(), coalition_id=None)
NOW = dt.datetime.now(dt.UTC)


def compared(
    first: Callable[[], object], second: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median wall times of two runs taken in turn (after one of each to warm up), in ms: on
    a shared machine, load that comes and goes then falls on both alike."""
    first(), second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for run, found in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            run()
            found.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


def nightly(first: dt.date, **extra: Any) -> dict[str, Any]:
    starts = dt.datetime.combine(first, dt.time(19, 0), ZONE)
    return {
        "title": f"Nightly noise demo since {first}",
        "kind": "noise_demo",
        "starts_at": starts,
        "ends_at": starts + dt.timedelta(hours=1),
        "rrule": "FREQ=DAILY",
        **extra,
    }


def instance(tmp: Path, name: str, url: str | None) -> Flask:
    url = url or f"sqlite:///{tmp / f'{name}.db'}"
    upgrade(url)
    return create_app(
        {
            "FEDERATION_DATABASE_URL": url,
            "FEDERATION_BASE_URL": f"https://{name}.example",
            # Throwaway signing keys: a benchmark must not write into instance/.
            "FEDERATION_KEY_PATH": str(tmp / f"{name}-keys.json"),
        }
    )


def publish(app: Flask, coalition_slug: str, payloads: list[dict[str, Any]]) -> float:
    """Publish actions of a new coalition, committing every 100; seconds taken."""
    start = time.perf_counter()
    with app.app_context():
        session = get_session()
        coalition = create_coalition(
            session,
            ADMIN,
            {"slug": coalition_slug, "name": coalition_slug, "city": "Minneapolis",
             "city_slug": "minneapolis", "timezone": "America/Chicago"},
            origin=app.config["FEDERATION_BASE_URL"],
        )  # fmt: skip
        for index, payload in enumerate(payloads):
            publish_event(
                session, ADMIN, coalition, payload, origin=app.config["FEDERATION_BASE_URL"]
            )
            if index % 100 == 99:
                session.commit()
        session.commit()
    return time.perf_counter() - start


def windows(app: Flask, repeat: int) -> None:
    client = app.test_client()
    old, new = dt.date(2001, 1, 1), NOW.date() - dt.timedelta(days=7)
    publish(app, "old", [nightly(old)])
    publish(app, "new", [nightly(new)])

    def query(coalition: str, start: dt.datetime) -> Callable[[], None]:
        args = {"coalition": coalition, "from": start.isoformat(),
                "to": (start + dt.timedelta(days=7)).isoformat()}  # fmt: skip

        def run() -> None:
            response = client.get("/api/v1/events", query_string=args)
            assert response.status_code == 200
            assert len(response.json["items"]) == 1

        return run

    series = parse_series(
        "FREQ=DAILY", starts_at=nightly(old)["starts_at"], ends_at=nightly(old)["ends_at"],
        timezone="America/Chicago", all_day=False,
    )  # fmt: skip

    def walked(start: dt.datetime) -> Callable[[], None]:
        # The previous release: dateutil walks the rule from its first start to the window.
        def run() -> None:
            local = start.astimezone(ZONE)
            series.rule.between(local, local + dt.timedelta(days=7))

        return run

    print("(a) a week's window on a nightly series begun in 2001 vs one begun last week")
    for label, start in (
        ("next week (occurrence index)", NOW + dt.timedelta(days=7)),
        ("2035 (past the index's horizon)", dt.datetime(2035, 6, 1, tzinfo=dt.UTC)),
        ("2150 (past the index's horizon)", dt.datetime(2150, 6, 1, tzinfo=dt.UTC)),
    ):
        a_old, a_new = compared(query("old", start), query("new", start), repeat)
        before = timed(walked(start), max(3, repeat // 10))
        print(
            f"    {label:33} begun 2001 {a_old:6.2f} ms   begun last week {a_new:6.2f} ms"
            f"   ratio {a_old / a_new:4.2f}   (previous release's walk alone: {before:8.2f} ms)"
        )


def home(tmp: Path, url: str | None, repeat: int, count: int) -> None:
    singles, recurring = instance(tmp, "singles", url), instance(tmp, "series", url)
    first = NOW.date() - dt.timedelta(days=3 * 365)
    took = publish(
        recurring,
        "nightly",
        [nightly(first + dt.timedelta(days=(index * 7919) % (3 * 365))) for index in range(count)],
    )
    print(f"    setup: {count} series published (and indexed) in {took:.1f} s")
    singles_start = dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time(19), ZONE)
    publish(
        singles,
        "singles",
        [
            {
                "title": f"Rally {index}",
                "kind": "rally",
                "starts_at": singles_start + dt.timedelta(minutes=index),
                "ends_at": singles_start + dt.timedelta(minutes=index + 60),
            }
            for index in range(count)
        ],
    )

    def page(app: Flask) -> Callable[[], None]:
        client = app.test_client()

        def run() -> None:
            response = client.get("/")
            assert response.status_code == 200
            assert count <= PAGE_LIMIT or b'class="more"' in response.data

        return run

    series_ms, singles_ms = compared(page(recurring), page(singles), repeat)
    results = {"series": series_ms, "singles": singles_ms}
    for app in (singles, recurring):
        get_database(app).engine.dispose()
    print(
        f"(b) GET / with {count} open-ended nightly series: {results['series']:7.1f} ms"
        f"   with {count} single actions (baseline): {results['singles']:7.1f} ms"
        f"   ratio {results['series'] / results['singles']:4.2f}"
    )


def exdates(app: Flask, repeat: int) -> None:
    first = dt.date(2001, 1, 1)
    skipped = [
        dt.datetime.combine(first + dt.timedelta(days=9 * index), dt.time(19), ZONE)
        for index in range(500)
    ]
    counter = iter(range(1_000_000))

    def write(extra: dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            publish(app, f"exdates-{next(counter)}", [nightly(first, **extra)])

        return run

    with_exdates, without = compared(write({"exdates": skipped}), write({}), repeat)
    print(
        f"(c) publishing a series begun in 2001 with 500 skipped nights: {with_exdates:7.1f} ms"
        f"   without (baseline): {without:7.1f} ms   ratio {with_exdates / without:4.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        app = instance(tmp, "windows", None)
        windows(app, args.repeat)
        get_database(app).engine.dispose()
        print("(b) the home page")
        home(tmp, None, max(5, args.repeat // 3), args.series)
        app = instance(tmp, "exdates", None)
        exdates(app, max(3, args.repeat // 6))
        get_database(app).engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
