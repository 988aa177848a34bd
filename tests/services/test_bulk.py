"""Bulk inserts (COPY on PostgreSQL) store exactly what the ORM would have stored."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from flask import Flask
from sqlalchemy import select

from federation.bulk import insert_rows
from federation.db import get_session
from federation.models import Coalition, Event, EventRow, EventTag
from federation.services.changes import note_feed_change


def _coalition() -> Coalition:
    return Coalition(
        slug=f"c-{uuid.uuid4().hex[:8]}",
        name="Twin Cities",
        city="Minneapolis",
        city_slug="minneapolis",
        timezone="America/Chicago",
        origin="https://mpls.example.org",
    )


def test_event_rows_inserted_in_bulk_read_back_as_the_orm_would_store_them(app: Flask):
    start = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    with app.app_context():
        session = get_session()
        coalition = _coalition()
        session.add(coalition)
        session.flush()
        row = EventRow(
            id=uuid.uuid4(),
            origin="https://mpls.example.org",
            version=3,
            created_at=start - dt.timedelta(days=2),
            updated_at=start - dt.timedelta(days=1),
            coalition_id=coalition.id,
            title="Noise demo ✊🏽 \\ ; , \n 'quoted' \"double\" \t tab",
            description="Línea 1\nLínea 2\\N",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            timezone="America/Chicago",
            all_day=False,
            rrule="FREQ=WEEKLY;COUNT=3",
            exdates=[start + dt.timedelta(days=7)],
            series_ends_at=start + dt.timedelta(days=14, hours=1),
            kind="noise_demo",
            status="confirmed",
            tags=["ice-out", "nightly"],
            latitude=44.95,
            longitude=-93.1,
            language=None,
        )
        insert_rows(session, Event.__table__, [row.columns(b"BEGIN:VEVENT\r\n\x00\xff")])
        insert_rows(session, EventTag.__table__, row.tag_rows())
        note_feed_change(session)
        session.commit()
        session.expunge_all()

        event = session.get(Event, row.id)
        assert event is not None
        stored = {field.name: getattr(event, field.name) for field in dataclasses.fields(row)}
        assert stored == dataclasses.asdict(row)
        assert event.url == row.url
        assert event.ical_block == b"BEGIN:VEVENT\r\n\x00\xff"
        assert event.exdates == [start + dt.timedelta(days=7)]
        assert event.location_name is None


def test_event_rows_cover_every_column_of_the_events_table():
    row = EventRow(
        id=uuid.uuid4(),
        origin="https://mpls.example.org",
        version=1,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        coalition_id=uuid.uuid4(),
        title="t",
        description="",
        starts_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        timezone="UTC",
        all_day=False,
        rrule=None,
        exdates=[],
        series_ends_at=None,
        kind="rally",
        status="confirmed",
        tags=[],
    )
    # A column added to events without a field here would be left to its default silently.
    assert set(row.columns(b"")) == set(Event.__table__.columns.keys())


def test_a_row_that_leaves_a_column_out_gets_its_default(app: Flask):
    with app.app_context():
        session = get_session()
        coalition = _coalition()
        session.add(coalition)
        session.flush()
        event_id = uuid.uuid4()
        start = dt.datetime(2026, 12, 1, 18, tzinfo=dt.UTC)
        insert_rows(
            session,
            Event.__table__,
            [
                {
                    "id": event_id,
                    "coalition_id": coalition.id,
                    "title": "Walkout",
                    "starts_at": start,
                    "ends_at": start + dt.timedelta(hours=1),
                    "timezone": "America/Chicago",
                    "kind": "walkout",
                    "origin": coalition.origin,
                    "ical_block": b"",
                }
            ],
        )
        session.commit()
        event = session.scalars(select(Event).where(Event.id == event_id)).one()
        assert (event.description, event.all_day, event.status, event.version) == (
            "",
            False,
            "confirmed",
            1,
        )
        assert event.exdate_values == []  # a JSON list, not an empty PostgreSQL array
        assert event.created_at is not None
