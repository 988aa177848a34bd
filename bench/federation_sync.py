"""Federation benchmark: how fast a reader pulls a whole origin, against a local bulk insert.

Two PostgreSQL-backed instances in fresh databases (plus a third for the baseline), all dropped
at the end, even after a failure. The origin gets 50,000 events (three coalitions in three
zones, 10% recurring, ~200-character UTF-8 descriptions), written through its sessions in
batches so the outbox signs every one at commit, and is served by gunicorn. The reader runs
`federation.sync.worker.sync_peer` in this process, with the envelope-checking helper processes
`flask federation sync` uses. Prints, from one run:

  (a) full backfill: rounds until up to date (a snapshot, then the changes feed), wall time,
      events/s, every proof verified and every VEVENT rendered; and the CPU time per object of
      the reader, of its helpers and of the rest of the machine, and how busy the cores were;
  (b) an incremental round after 100 events were edited on the origin;
  (c) an idle round: requests made and how many were answered 304 (goal: one, and one);
  (d) the baseline: the same 50,000 event rows, read back from the origin (their tags and
      pre-rendered iCalendar blocks included), bulk-inserted into a fresh database in one
      transaction by COPY, as the reader stores them (federation.bulk.insert_rows); and (a)
      as a multiple of it.

Run with `make bench-federation` (separate from `make bench`, the feed benchmark, because it
needs a PostgreSQL server and a few minutes), or `.venv/bin/python bench/federation_sync.py --help`.
`--profile` runs the backfill under cProfile and prints where its time goes. The server
(`--server`, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) must let it create
databases.
"""

import sys
from pathlib import Path

# tests/servers.py starts the origin's gunicorn, as the test suite does.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import argparse
import contextlib
import cProfile
import dataclasses
import datetime as dt
import io
import os
import pstats
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from feeds import TEXT, ZONES  # the feed benchmark's cities and descriptions
from flask import Flask
from servers import environment, free_port, gunicorn
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from federation import create_app
from federation.bulk import insert_rows
from federation.db import get_database, make_engine
from federation.migrate import upgrade
from federation.models import Coalition, Event, EventTag
from federation.services import events as event_service
from federation.services.auth import Actor
from federation.services.coalitions import create_coalition
from federation.services.peers import add_peer
from federation.sync import settings_from_config
from federation.sync.checks import worker_envelope_checker
from federation.sync.worker import RoundSummary, sync_peer

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BATCH = 1000
ADMIN = Actor(token_id=uuid.uuid4(), coalition_id=None)


@contextlib.contextmanager
def databases(server: str, names: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Fresh, migrated databases on `server`, one per name; dropped however the block ends."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    prefix = f"federation_bench_{uuid.uuid4().hex[:8]}"
    created: list[str] = []
    try:
        urls = {}
        for name in names:
            database = f"{prefix}_{name}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
            created.append(database)
            urls[name] = make_url(server).set(database=database).render_as_string(False)
            upgrade(urls[name])
        yield urls
    finally:
        with admin.connect() as connection:
            for database in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def event_data(index: int, zone: ZoneInfo, base: dt.datetime) -> dict[str, Any]:
    day = (base + dt.timedelta(hours=7 * index)).astimezone(zone)
    starts = day.replace(hour=17, minute=30, second=0, microsecond=0)
    data: dict[str, Any] = {
        "title": f"Action {index}: piquete en la planta",
        "description": f"#{index} {TEXT}"[:200],
        "starts_at": starts,
        "ends_at": starts + dt.timedelta(hours=2),
        "kind": "picket",
        "tags": ["strike", f"site-{index % 17}"],
        "location": {
            "name": "Plant gate",
            "address": f"{index % 900 + 100} Industrial Blvd",
            "latitude": 44.95 + (index % 100) / 1000,
            "longitude": -93.1,
        },
        "language": "es",
    }
    if index % 10 == 0:
        data["rrule"] = "FREQ=WEEKLY;COUNT=8"
    return data


def populate(app: Flask, count: int) -> None:
    """Coalitions through their service; events as batched ORM adds, signed at each commit."""
    origin = app.config["FEDERATION_BASE_URL"]
    base = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    factory = get_database(app).sessionmaker
    with factory() as session:
        coalitions = [
            create_coalition(
                session,
                ADMIN,
                {"slug": slug, "name": slug, "city": slug, "city_slug": slug, "timezone": zone},
                origin=origin,
            )
            for slug, zone in ZONES.items()
        ]
        session.commit()
        zones = [ZoneInfo(coalition.timezone) for coalition in coalitions]
        for index in range(count):
            coalition = coalitions[index % 3]
            data = event_data(index, zones[index % 3], base)
            values = event_service.event_values(session, coalition, data)
            session.add(Event(coalition=coalition, origin=origin, **values))
            if index % BATCH == BATCH - 1:
                session.commit()
        session.commit()


def edit(app: Flask, count: int) -> None:
    """Change `count` events on the origin, as an admin editing them would (new versions)."""
    factory = get_database(app).sessionmaker
    with factory() as session:
        events = session.scalars(select(Event).order_by(Event.starts_at).limit(count)).all()
        for event in events:
            event_service.update_event(
                session, ADMIN, event, {"description": f"Edited: {event.description}"[:200]}
            )
        session.commit()


def baseline(source_url: str, target_url: str) -> tuple[float, int]:
    """Bulk-insert the origin's event rows (tags and iCalendar blocks included) elsewhere, by
    the same COPY the reader uses (federation.bulk.insert_rows)."""
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        with source.connect() as connection:
            coalitions = [
                dict(row._mapping) for row in connection.execute(select(Coalition.__table__))
            ]
            events = [dict(row._mapping) for row in connection.execute(select(Event.__table__))]
            tags = [dict(row._mapping) for row in connection.execute(select(EventTag.__table__))]
        with Session(target) as session, session.begin():
            insert_rows(session, Coalition.__table__, coalitions)
        start = time.perf_counter()
        with Session(target) as session, session.begin():
            for first in range(0, len(events), BATCH):
                insert_rows(session, Event.__table__, events[first : first + BATCH])
            for first in range(0, len(tags), BATCH):
                insert_rows(session, EventTag.__table__, tags[first : first + BATCH])
        return time.perf_counter() - start, len(events)
    finally:
        source.dispose()
        target.dispose()


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy since boot, all cores (0 off Linux)."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rounds(sync: Callable[[], RoundSummary], limit: int = 100) -> list[RoundSummary]:
    """Rounds with the peer until one ends up to date."""
    summaries: list[RoundSummary] = []
    while not summaries or not summaries[-1].up_to_date:
        summary = sync()
        if not summary.ok or len(summaries) >= limit:
            raise RuntimeError(f"the round failed: {summary.line()}")
        summaries.append(summary)
    return summaries


def total(summaries: list[RoundSummary], name: str) -> int:
    return sum(getattr(summary, name) for summary in summaries)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--server", default=SERVER, help=f"PostgreSQL server (default {SERVER})")
    parser.add_argument("--profile", action="store_true", help="profile the backfill (cProfile)")
    args = parser.parse_args()

    names = ("origin", "reader", "baseline")
    with tempfile.TemporaryDirectory() as tmp, databases(args.server, names) as urls:
        port = free_port()
        origin_url = f"http://127.0.0.1:{port}"
        origin_keys = str(Path(tmp) / "origin-keys.json")
        origin = create_app(
            {
                "FEDERATION_DATABASE_URL": urls["origin"],
                "FEDERATION_BASE_URL": origin_url,
                "FEDERATION_INSTANCE_NAME": "Bench origin",
                # Throwaway signing keys: a benchmark must not write into instance/.
                "FEDERATION_KEY_PATH": origin_keys,
            }
        )
        start = time.perf_counter()
        populate(origin, args.events)
        print(
            f"setup: {args.events} signed events written on the origin "
            f"in {time.perf_counter() - start:.1f} s"
        )
        reader = create_app(
            {
                "FEDERATION_DATABASE_URL": urls["reader"],
                "FEDERATION_BASE_URL": "http://reader.bench.invalid",
                "FEDERATION_KEY_PATH": str(Path(tmp) / "reader-keys.json"),
                "FEDERATION_ALLOW_PRIVATE_PEERS": True,
            }
        )
        factory = get_database(reader).sessionmaker
        # As `flask federation sync` runs it: envelopes checked in a helper process.
        checker = worker_envelope_checker()
        settings = dataclasses.replace(settings_from_config(reader.config), checker=checker)
        env = environment(urls["origin"], origin_url, FEDERATION_KEY_PATH=origin_keys)
        with gunicorn(env, port), factory() as session:
            peer = add_peer(
                session,
                ADMIN,
                {"url": origin_url},
                own_origin=settings.own_origin,
                allow_private=True,
            )
            session.commit()

            def sync() -> RoundSummary:
                return sync_peer(factory, peer.id, settings)

            profiler = cProfile.Profile() if args.profile else None
            start, cpu, busy = time.perf_counter(), time.process_time(), machine_busy()
            if profiler:
                profiler.enable()
            backfill = rounds(sync)
            if profiler:
                profiler.disable()
            a, a_cpu = time.perf_counter() - start, time.process_time() - cpu
            a_busy = machine_busy() - busy
            held = session.scalar(
                select(func.count()).select_from(Event).where(Event.ical_block.is_not(None))
            )
            if held != args.events:
                raise RuntimeError(f"the reader holds {held} events, not {args.events}")

            edit(origin, args.edits)
            start = time.perf_counter()
            incremental = rounds(sync)
            b = time.perf_counter() - start
            if total(incremental, "applied") != args.edits:
                raise RuntimeError(f"the round applied {total(incremental, 'applied')} changes")

            start = time.perf_counter()
            idle = rounds(sync)
            c = time.perf_counter() - start
            checker.close(wait=True)  # its CPU time is then counted among our children's
            helper_cpu = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
        d, rows = baseline(urls["origin"], urls["baseline"])

    pages, applied = total(backfill, "pages"), total(backfill, "applied")
    print(
        f"(a) full backfill: {len(backfill)} rounds, {total(backfill, 'requests')} requests, "
        f"{pages} pages, {applied} objects applied: {a:8.2f} s  "
        f"{args.events / a:7.0f} events/s   goal >= 5000 events/s"
    )
    cores = os.cpu_count() or 1
    print(
        f"    CPU per object: the reader {a_cpu / applied * 1e6:.0f} us, its envelope-checking "
        f"helper {helper_cpu / applied * 1e6:.0f} us, the rest of the machine (the origin's "
        f"gunicorn, PostgreSQL) {(a_busy - a_cpu - helper_cpu) / applied * 1e6:.0f} us; "
        f"the {cores} cores were {a_busy / (a * cores):.0%} busy"
    )
    print(
        f"(b) incremental round, {args.edits} edited events: {total(incremental, 'requests')} "
        f"requests, {total(incremental, 'applied')} applied: {b * 1000:8.1f} ms"
    )
    print(
        f"(c) idle round: {total(idle, 'requests')} request(s), "
        f"{total(idle, 'not_modified')} answered 304: {c * 1000:8.1f} ms   goal 1 request, 1 304"
    )
    print(
        f"(d) baseline, COPY of the {rows} event rows (+ tags, iCalendar blocks) in one "
        f"transaction: {d:8.2f} s  {rows / d:7.0f} rows/s"
    )
    print(f"backfill / baseline: {a / d:.1f}x the time of a local bulk insert")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(35)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
