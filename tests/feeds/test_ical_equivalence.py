"""The VEVENT renderer writes exactly what icalendar writes, for any event the API accepts.

federation.ical assembles its lines itself for speed (a peer's backfill renders every event it
receives); icalendar stays the reference. `reference_vevent` below is the straightforward
icalendar version, and the two must agree byte for byte on generated events: any text, zone,
recurrence, all-day, place, language and tags. Where we depart from icalendar on purpose, the
reference is given what makes the comparison fair, and the departure is checked on its own
(tests/feeds/test_output_encoding.py): icalendar's vText turns a typed backslash-N into a line
break (events whose text holds one are left out here), it keeps control characters that TEXT
may not hold (the text policy refuses them; the renderer drops those stored before it), and
vGeo may write an exponent (GEO lines are compared as numbers).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from icalendar.parser import Contentline

from federation.ical import CANCELLED_PREFIX, _fold, event_uid, render_event
from federation.models import Event
from schemas.common import known_timezones
from schemas.vocabulary import EVENT_KINDS, EVENT_STATUSES


def reference_vevent(event: Event) -> bytes:
    """The event as icalendar's own Component writes it (what federation.ical did before)."""
    parts = [event.description.strip()] if event.description.strip() else []
    if event.online_url:
        parts.append(f"Online: {event.online_url}")
    parts.append(event.url)
    zone = ZoneInfo(event.timezone)
    vevent = icalendar.Event()
    vevent.add("uid", event_uid(event))
    vevent.add("dtstamp", event.updated_at.astimezone(dt.UTC))
    vevent.add("created", event.created_at.astimezone(dt.UTC))
    vevent.add("last-modified", event.updated_at.astimezone(dt.UTC))
    vevent.add("sequence", event.version - 1)
    if event.all_day:
        vevent.add("dtstart", event.starts_at.astimezone(zone).date())
        vevent.add("dtend", event.ends_at.astimezone(zone).date())
    else:
        vevent.add("dtstart", event.starts_at.astimezone(zone))
        vevent.add("dtend", event.ends_at.astimezone(zone))
    if event.rrule:
        vevent.add("rrule", icalendar.vRecur.from_ical(event.rrule))
        if event.exdates:
            local = [x.astimezone(zone) for x in event.exdates]
            vevent.add("exdate", [x.date() for x in local] if event.all_day else local)
    vevent.add("status", event.status.upper())
    language = {"LANGUAGE": event.language} if event.language else {}
    title = (CANCELLED_PREFIX if event.status == "cancelled" else "") + event.title
    vevent.add("summary", title, parameters=language)
    vevent.add("description", "\n\n".join(parts), parameters=language)
    place = ", ".join(p for p in (event.location_name, event.location_address) if p)
    if place:
        vevent.add("location", place, parameters=language)
    if event.latitude is not None and event.longitude is not None:
        vevent.add("geo", (event.latitude, event.longitude))
    vevent.add("url", event.url, parameters={"VALUE": "URI"})
    vevent.add("categories", [event.kind, *event.tags])
    return bytes(vevent.to_ical())


# Any text without a lone surrogate or a control character but the line breaks and tab (the
# text policy allows LF and TAB in descriptions; CR is what older versions stored). Backslashes,
# commas, semicolons, carets and line breaks are what escaping and folding must get right.
CONTROLS = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r")
CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters=CONTROLS)
TEXT = st.one_of(
    st.text(CHARACTERS, max_size=300),
    st.text(st.sampled_from("a\\^,;:\n\r é—✊🏽"), max_size=400),
    st.text(CHARACTERS, min_size=1000, max_size=3000),
)
UTC_TIMES = st.datetimes(
    min_value=dt.datetime(1901, 1, 1), max_value=dt.datetime(2199, 1, 1), timezones=st.just(dt.UTC)
)
RRULES = st.sampled_from(
    [
        "FREQ=WEEKLY;COUNT=8",
        "FREQ=DAILY;UNTIL=20270131T235959Z",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO,-1FR",
        "FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=1",
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;WKST=SU;COUNT=30",
    ]
)
ORIGINS = st.sampled_from(
    ["https://mpls.example.org", "http://127.0.0.1:5000", "https://nyc.example:8443"]
)


@st.composite
def events(draw: Any) -> Event:
    starts = draw(UTC_TIMES)
    created = draw(UTC_TIMES)
    rrule = draw(st.none() | RRULES)
    event = Event(
        id=draw(st.uuids()),
        origin=draw(ORIGINS),
        version=draw(st.integers(1, 2**31 - 1)),
        created_at=created,
        updated_at=draw(UTC_TIMES),
        timezone=draw(st.sampled_from(sorted(known_timezones()))),
        all_day=draw(st.booleans()),
        starts_at=starts,
        ends_at=starts + draw(st.timedeltas(dt.timedelta(minutes=1), dt.timedelta(days=9))),
        rrule=rrule,
        exdates=draw(st.lists(UTC_TIMES, max_size=4)) if rrule else [],
        status=draw(st.sampled_from(EVENT_STATUSES)),
        language=draw(
            st.none() | st.from_regex(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}", fullmatch=True)
        ),
        title=draw(TEXT.filter(bool)),
        description=draw(TEXT),
        online_url=draw(st.none() | st.just("https://stream.example.org/live?a=1,b;c")),
        location_name=draw(st.none() | TEXT),
        location_address=draw(st.none() | TEXT),
        kind=draw(st.sampled_from(EVENT_KINDS)),
        tags=draw(st.lists(st.from_regex(r"[\w-]{1,40}", fullmatch=True), max_size=5, unique=True)),
    )
    if draw(st.booleans()):
        event.latitude = draw(st.floats(-90, 90))
        event.longitude = draw(st.floats(-180, 180))
    return event


TEXTS = ("title", "description", "location_name", "location_address")


GEO = re.compile(rb"\r\nGEO:([^\r]*)\r\n")


def split_geo(block: bytes) -> tuple[bytes, list[float] | None]:
    """The block without its GEO line (never folded: two short numbers), and GEO's values."""
    found = GEO.search(block)
    if found is None:
        return block, None
    values = found.group(1).decode()
    rest = block[: found.start()] + b"\r\n" + block[found.end() :]
    return rest, [float(v) for v in values.split(";")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_render_event_is_what_icalendar_writes(event: Event) -> None:
    # vText reads a typed backslash-N as a line break; we keep it as text.
    assume(not any("\\N" in (getattr(event, name) or "") for name in TEXTS))

    ours, ours_geo = split_geo(render_event(event))
    reference, reference_geo = split_geo(reference_vevent(event))

    assert ours == reference
    if reference_geo is None:
        assert ours_geo is None
    else:
        # Six decimal places (RFC 5545 3.8.1.6), never an exponent.
        assert ours_geo == pytest.approx(reference_geo, abs=1e-6)
        written = GEO.search(render_event(event))
        assert written is not None
        assert re.fullmatch(rb"-?\d+\.\d{1,6};-?\d+\.\d{1,6}", written.group(1))


@settings(max_examples=1000, deadline=None)
@given(st.text(st.sampled_from("ab\\^é—😀 ,;"), min_size=60, max_size=600) | st.text(CHARACTERS))
def test_long_lines_fold_where_icalendar_folds_them(text: str) -> None:
    line = "DESCRIPTION:" + text.replace("\n", " ").replace("\r", " ")
    assert _fold(line) == Contentline(line).to_ical() + b"\r\n"


def test_a_utc_zone_is_written_as_utc_and_others_with_their_tzid() -> None:
    base = {
        "id": uuid.uuid4(),
        "origin": "https://mpls.example.org",
        "version": 1,
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "updated_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "all_day": False,
        "starts_at": dt.datetime(2026, 5, 1, 17, tzinfo=dt.UTC),
        "ends_at": dt.datetime(2026, 5, 1, 19, tzinfo=dt.UTC),
        "status": "confirmed",
        "title": "May Day",
        "description": "",
        "kind": "march",
        "tags": [],
    }
    for zone, start in (
        ("Etc/UTC", "DTSTART:20260501T170000Z"),
        ("America/Chicago", "DTSTART;TZID=America/Chicago:20260501T120000"),
    ):
        event = Event(timezone=zone, **base)
        block = render_event(event)
        assert f"\r\n{start}\r\n".encode() in block
        assert block == reference_vevent(event)
