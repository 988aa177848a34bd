"""One gate every feed in the tests goes through: a byte lint and three independent parsers.

No single parser catches everything (icalendar records bad properties in `.errors` and carries
on; `ical` rejects what the RFC forbids; recurring-ical-events is what expands series the way
calendar apps do), so a feed must satisfy all of them, plus the byte rules none of them checks.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from flask.testing import FlaskClient
from ical.calendar import Calendar as StrictCalendar
from ical.calendar_stream import IcsCalendarStream
from werkzeug.test import TestResponse

MAX_OCTETS = 75
ONE_DAY = dt.timedelta(days=1)
REQUIRED = {
    "VCALENDAR": ("PRODID", "VERSION"),
    "VEVENT": ("UID", "DTSTAMP", "DTSTART"),
}
# Wide enough for any test event (past window, next year's DST series), small enough that an
# open-ended daily series expands quickly.
EXPAND_FROM = dt.date.today() - dt.timedelta(days=3 * 365)
EXPAND_TO = dt.date.today() + dt.timedelta(days=5 * 365)


def lint_bytes(data: bytes) -> str:
    """The RFC 5545 byte rules: CRLF only, lines of at most 75 octets, folds on characters."""
    assert data, "empty body"
    text = data.decode("utf-8", errors="strict")
    assert data.endswith(b"\r\n"), "the last line is not CRLF-terminated"
    lines = data[: -len(b"\r\n")].split(b"\r\n")
    for number, line in enumerate(lines, start=1):
        assert b"\n" not in line, f"line {number}: bare LF"
        assert b"\r" not in line, f"line {number}: bare CR"
        assert len(line) <= MAX_OCTETS, f"line {number}: {len(line)} octets: {line!r}"
        # A fold inside a multi-byte character leaves each half undecodable on its own; some
        # clients unfold per line and show replacement characters.
        try:
            line.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise AssertionError(f"line {number}: a fold splits a character: {line!r}") from exc
        assert line, f"line {number}: empty line"
    return text


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _tzids_used(calendar: icalendar.Calendar) -> set[str]:
    used = set()
    for component in calendar.walk():
        if component.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT"):
            continue
        for value in component.values():
            for item in _values(value):
                tzid = getattr(item, "params", {}).get("TZID")
                if tzid:
                    used.add(str(tzid))
    return used


def _check_event(event: icalendar.Event) -> None:
    uid = event.get("UID")
    assert not ("DTEND" in event and "DURATION" in event), f"{uid}: both DTEND and DURATION"
    start = event["DTSTART"].dt
    if "DTEND" in event:
        end = event["DTEND"].dt
        assert type(end) is type(start), f"{uid}: DTSTART and DTEND of different types"
        assert end > start, f"{uid}: DTEND not after DTSTART"
    if isinstance(start, dt.datetime):
        # Floating times move with the viewer's clock: an action happens at one place and time.
        assert start.tzinfo is not None, f"{uid}: floating DTSTART"
    for rule in _values(event.get("RRULE", [])):
        for until in rule.get("UNTIL", []):
            if isinstance(start, dt.datetime):
                # RFC 5545 3.3.10: with a TZID on DTSTART, UNTIL must be in UTC.
                assert isinstance(until, dt.datetime), f"{uid}: UNTIL is a date"
                assert until.utcoffset() == dt.timedelta(0), f"{uid}: UNTIL not in UTC"
            else:
                assert not isinstance(until, dt.datetime), f"{uid}: all-day series, timed UNTIL"
    for exdates in _values(event.get("EXDATE", [])):
        # An EXDATE that does not match an occurrence exactly removes nothing in most apps.
        assert exdates.params.get("TZID") == event["DTSTART"].params.get("TZID"), (
            f"{uid}: EXDATE in another zone than DTSTART"
        )
        for exdate in exdates.dts:
            assert type(exdate.dt) is type(start), f"{uid}: EXDATE and DTSTART differ in type"


@functools.cache
def _check_timezone(block: bytes) -> None:
    """The VTIMEZONE gives the offsets the tz database gives, at every change and in between.

    icalendar and `ical` both look an IANA TZID up in their own tz database and never read our
    VTIMEZONE; Outlook and some phones read only the VTIMEZONE, so its rules must be right.
    """
    vtimezone = icalendar.Timezone.from_ical(block)
    tzid = str(vtimezone["TZID"])
    ours, reference = vtimezone.to_tz(lookup_tzid=False), ZoneInfo(tzid)
    day = dt.datetime.combine(dt.date.today(), dt.time(), dt.UTC) - dt.timedelta(days=365)
    last = day + dt.timedelta(days=3 * 365)
    while day < last:
        moments = [day]
        if (
            day.astimezone(reference).utcoffset()
            != (day + ONE_DAY).astimezone(reference).utcoffset()
        ):
            moments = [day + dt.timedelta(minutes=15 * n) for n in range(4 * 24)]
        for moment in moments:
            assert (
                moment.astimezone(ours).utcoffset() == moment.astimezone(reference).utcoffset()
            ), f"{tzid}: VTIMEZONE wrong at {moment:%Y-%m-%d %H:%M} UTC"
        day += ONE_DAY


def strict_icalendar(text: str) -> icalendar.Calendar:
    """icalendar's parse, failing on what it would only record and skip."""
    calendar = icalendar.Calendar.from_ical(text)
    assert isinstance(calendar, icalendar.Calendar)
    assert calendar.name == "VCALENDAR"
    for component in calendar.walk():
        assert not component.errors, f"{component.name}: {component.errors}"
        for name in REQUIRED.get(component.name, ()):
            assert name in component, f"{component.name} without {name}"
        if component.name == "VEVENT":
            _check_event(component)
    # METHOD turns a subscription into an iTIP message (RFC 5546), which wants ORGANIZER etc.
    assert "METHOD" not in calendar, "a published feed carries no METHOD"
    assert calendar["VERSION"] == "2.0"
    # A TZID without its VTIMEZONE is floating time in Outlook and Thunderbird.
    zones = [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")]
    assert len(zones) == len(set(zones)), f"duplicate VTIMEZONE: {zones}"
    missing = _tzids_used(calendar) - set(zones)
    assert not missing, f"TZID without VTIMEZONE: {missing}"
    for vtimezone in calendar.walk("VTIMEZONE"):
        _check_timezone(vtimezone.to_ical())
    return calendar


def strict_ical(text: str) -> StrictCalendar:
    """allenporter's `ical`: pydantic models that reject what RFC 5545 forbids."""
    return IcsCalendarStream.calendar_from_ics(text)


def expand(calendar: icalendar.Calendar) -> list[icalendar.Event]:
    """Every occurrence in a wide window, as recurring-ical-events (and so many apps) sees it."""
    return list(recurring_ical_events.of(calendar).between(EXPAND_FROM, EXPAND_TO))


def check_feed(data: bytes) -> icalendar.Calendar:
    """Lint `data`, parse it with every parser, expand its series; the icalendar Calendar."""
    text = lint_bytes(data)
    calendar = strict_icalendar(text)
    strict = strict_ical(text)
    assert len(strict.events) == len(calendar.walk("VEVENT"))
    expand(calendar)
    return calendar


def fetch(
    client: FlaskClient, url: str, query: dict[str, str] | None = None
) -> tuple[TestResponse, icalendar.Calendar]:
    """GET a feed as a calendar app would; the response and its checked calendar."""
    response = client.get(url, query_string=query)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return response, check_feed(response.data)


def events(calendar: icalendar.Calendar) -> list[icalendar.Event]:
    return list(calendar.walk("VEVENT"))


def summaries(calendar: icalendar.Calendar) -> list[str]:
    return sorted(str(event["SUMMARY"]) for event in events(calendar))


def by_summary(calendar: icalendar.Calendar, summary: str) -> icalendar.Event:
    found = [event for event in events(calendar) if str(event["SUMMARY"]) == summary]
    assert len(found) == 1, f"{summary!r}: {len(found)} events"
    return found[0]


def unfolded(data: bytes) -> str:
    """The body with folds undone, for assertions on raw content lines."""
    return re.sub(r"\r\n[ \t]", "", data.decode("utf-8"))
