"""iCalendar rendering, pure: models in, bytes out.

Each event's VEVENT is rendered once, when the event changes, and stored; a feed is a header,
one VTIMEZONE per zone used and the stored blocks, concatenated. Rendering 10,000 events with
icalendar costs seconds, concatenating their bytes costs milliseconds.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar

from federation.models import Event, EventRow

PRODID = "-//Solidarity Federation//federation//EN"
CRLF = b"\r\n"
REFRESH = dt.timedelta(hours=1)
CANCELLED_PREFIX = "Cancelled: "


def event_uid(event: Event | EventRow) -> str:
    """`<uuid>@<origin host>`: assigned at the origin, the same on every instance."""
    return f"{event.id}@{urlsplit(event.origin).netloc}"


def _description(event: Event | EventRow) -> str:
    parts = [event.description.strip()] if event.description.strip() else []
    if event.online_url:
        parts.append(f"Online: {event.online_url}")
    parts.append(event.url)
    return "\n\n".join(parts)


def render_event(event: Event | EventRow) -> bytes:
    """The VEVENT block of one event, CRLF-terminated.

    Byte for byte what icalendar's Event component writes for it (tests/feeds/
    test_ical_equivalence.py keeps that version and compares the two over generated events), at
    a fifth of the cost: icalendar builds objects for every property and parameter and folds
    every line character by character, which made rendering the largest part of a peer's
    backfill. Values are still formatted by icalendar (vRecur, times, its parameter quoting);
    TEXT is escaped by RFC 5545 (`_text`: as vText does, except that a typed backslash-N stays
    text and control characters go) and GEO is plain decimal (`_geo`: vGeo may write an
    exponent); the lines are assembled here, in icalendar's order (its canonical order for
    VEVENT, then by name), and folded by `_fold`.
    """
    zone = event.timezone
    # A language stored before the text policy may hold a control character; no parameter may.
    language = _parameter("LANGUAGE", _CONTROLS.sub("", event.language)) if event.language else ""
    title = (CANCELLED_PREFIX if event.status == "cancelled" else "") + event.title
    stamp = _utc(event.updated_at)
    lines = [
        "BEGIN:VEVENT",
        f"SUMMARY{language}:{_text(title)}",
        f"DTSTART{_moment(event.starts_at, zone, event.all_day)}",
        f"DTEND{_moment(event.ends_at, zone, event.all_day)}",
        # DTSTAMP is the last change, not "now": the bytes stay stable, so a strong ETag works.
        f"DTSTAMP:{stamp}",
        f"UID:{_text(event_uid(event))}",
        # Counts changes since creation: 0 for a new event, like SEQUENCE in RFC 5545.
        f"SEQUENCE:{event.version - 1}",
    ]
    if event.rrule:
        # Rare, and with rules of their own: written by icalendar itself.
        lines += _library_lines("rrule", icalendar.vRecur.from_ical(event.rrule))
        if event.exdates:
            local = [x.astimezone(ZoneInfo(zone)) for x in event.exdates]
            lines += _library_lines("exdate", [x.date() for x in local] if event.all_day else local)
    lines.append(f"CATEGORIES:{','.join([_text(c) for c in (event.kind, *event.tags)])}")
    lines.append(f"CREATED:{_utc(event.created_at)}")
    lines.append(f"DESCRIPTION{language}:{_text(_description(event))}")
    if event.latitude is not None and event.longitude is not None:
        lines.append(f"GEO:{_geo(event.latitude, event.longitude)}")
    lines.append(f"LAST-MODIFIED:{stamp}")
    place = ", ".join(p for p in (event.location_name, event.location_address) if p)
    if place:
        lines.append(f"LOCATION{language}:{_text(place)}")
    lines.append(f"STATUS:{_text(event.status.upper())}")
    lines.append(f"URL;VALUE=URI:{event.url}")
    lines.append("END:VEVENT")
    return b"".join([_fold(line) for line in lines])


def _text(value: str) -> str:
    """A TEXT value escaped by RFC 5545 (3.3.11), whatever the stored text holds.

    Backslash, semicolon and comma are escaped; every line break (CRLF, LF, a lone CR) becomes
    the two characters backslash-n, so no stored CR can end a content line for a client that
    splits lines on CR; other control characters, which TEXT may not hold, are dropped (text
    stored before the text policy may have them). icalendar's vText is not used: it first
    turns a typed backslash-N into a line break, so "C:\\Notes" lost its backslash (and
    building a vText per value cost more than the rest of the line).
    """
    value = _CONTROLS.sub("", value)
    return (
        value.replace("\\", "\\\\")
        .replace(";", r"\;")
        .replace(",", r"\,")
        .replace("\r\n", r"\n")
        .replace("\n", r"\n")
        .replace("\r", r"\n")
    )


# What TEXT cannot hold (RFC 5545 3.3.11: no CONTROL but HTAB; CR and LF are escaped instead),
# and the C1 controls, NEL among them, which some readers also take for a line break.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _geo(latitude: float, longitude: float) -> str:
    """GEO's two FLOATs in plain decimal, to the six places RFC 5545 (3.8.1.6) asks receivers
    to accept (about 10 cm): its FLOAT has no exponent form, which vGeo writes for 1e-05."""
    return ";".join(_six_places(value) for value in (latitude, longitude))


def _six_places(value: float) -> str:
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@functools.lru_cache(maxsize=256)
def _parameter(name: str, value: str) -> str:
    """`;NAME=value`, quoted as icalendar quotes it (cached: a handful of zones and languages)."""
    return ";" + str(icalendar.Parameters({name: value}).to_ical(), "utf-8")


@functools.lru_cache(maxsize=256)
def _zone_style(tzid: str) -> tuple[str, bool]:
    """How icalendar writes a time of this zone: (its parameters, whether as UTC with a Z).

    A zone equivalent to UTC (Etc/UTC, UCT...) is written as UTC, any other with its TZID.
    """
    sample = icalendar.vDDDTypes(dt.datetime(2000, 1, 1, tzinfo=ZoneInfo(tzid)))
    written = sample.params.to_ical().decode()
    return (f";{written}" if written else ""), sample.to_ical().endswith(b"Z")


def _moment(moment: dt.datetime, tzid: str, all_day: bool) -> str:
    """`;params:value` of a start or end: a local date, or a time in the event's zone."""
    local = moment.astimezone(ZoneInfo(tzid))
    if all_day:
        return f";VALUE=DATE:{local:%Y%m%d}"
    parameters, utc = _zone_style(tzid)
    return f"{parameters}:{local:%Y%m%dT%H%M%S}{'Z' if utc else ''}"


def _library_lines(name: str, value: object) -> list[str]:
    """One property's content lines (unfolded) as icalendar writes them."""
    component = icalendar.Event()
    component.add(name, value)
    return [str(line) for line in component.content_lines()[1:-2]]


# A content line is folded before the character that would make it 75 octets long, and a
# backslash or caret ending a line moves to the next one (icalendar's rule, issue #1501).
_FOLD_AT = 74
_CONTINUATION = range(0x80, 0xC0)  # UTF-8 bytes that are not the first of a character
_NO_SPLIT_AFTER = b"\\^"


def _fold(line: str) -> bytes:
    """The line, folded as icalendar's `Contentline.to_ical` folds it, and CRLF-terminated.

    icalendar looks at every character of every line; here the line's UTF-8 bytes are cut at
    the last character boundary within the limit, so a 20,000-character description costs
    microseconds rather than milliseconds.
    """
    raw = line.encode()
    if len(raw) <= _FOLD_AT:
        return raw + CRLF
    parts = []
    start = 0
    while len(raw) - start > _FOLD_AT:
        end = start + _FOLD_AT
        while raw[end] in _CONTINUATION:
            end -= 1
        if raw[end - 1] in _NO_SPLIT_AFTER and end - start > 1:
            end -= 1
        parts.append(raw[start:end])
        start = end
    parts.append(raw[start:])
    return b"\r\n ".join(parts) + CRLF


# --- time zones -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Transition:
    utc: dt.datetime
    offset_before: dt.timedelta
    offset_after: dt.timedelta
    name_after: str

    @property
    def local(self) -> dt.datetime:
        """Wall-clock time of the change, in the time that was in force before it."""
        return (self.utc + self.offset_before).replace(tzinfo=None)


def _transitions(zone: ZoneInfo, year: int) -> list[_Transition]:
    """Offset changes during `year`, found by stepping days and then quarter hours."""
    found = []
    day = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    while day < end:
        nxt = day + dt.timedelta(days=1)
        if day.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            moment = day
            while moment < nxt:
                step = moment + dt.timedelta(minutes=15)
                before, after = moment.astimezone(zone), step.astimezone(zone)
                if before.utcoffset() != after.utcoffset():
                    found.append(
                        _Transition(
                            utc=step,
                            offset_before=before.utcoffset() or dt.timedelta(0),
                            offset_after=after.utcoffset() or dt.timedelta(0),
                            name_after=after.tzname() or zone.key,
                        )
                    )
                moment = step
        day = nxt
    return found


def _weekday_rule(local: dt.datetime) -> tuple[int, str]:
    """(month, BYDAY) such as (3, "2SU"), or (10, "-1SU") for the last one in the month."""
    weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][local.weekday()]
    last_day = calendar.monthrange(local.year, local.month)[1]
    if local.day + 7 > last_day:
        return local.month, f"-1{weekday}"
    return local.month, f"{(local.day - 1) // 7 + 1}{weekday}"


def _nth_weekday(year: int, month: int, byday: str) -> int:
    nth, weekday = int(byday[:-2]), ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].index(byday[-2:])
    days = [
        d
        for d in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, d).weekday() == weekday
    ]
    return days[nth - 1] if nth > 0 else days[nth]


def _component(
    kind: type[icalendar.cal.Component], start: dt.datetime, t: _Transition
) -> icalendar.cal.Component:
    component = kind()
    component.add("dtstart", start)
    component.add("tzoffsetfrom", t.offset_before)
    component.add("tzoffsetto", t.offset_after)
    component.add("tzname", t.name_after)
    return component


@functools.cache
def vtimezone(tzid: str, year: int) -> bytes:
    """An RRULE-style VTIMEZONE for `tzid` with the rules in force in `year`.

    Outlook shifts times in RDATE-list zones (what icalendar's from_tzid builds), so the
    rules are written as yearly RRULEs anchored in 1970, as Google and Apple publish them.
    A zone whose changes follow no nth-weekday rule gets one dated component per change.
    """
    zone = ZoneInfo(tzid)
    timezone = icalendar.Timezone()
    timezone.add("tzid", tzid)
    transitions = _transitions(zone, year)
    if not transitions:
        offset = dt.datetime(year, 1, 1, tzinfo=zone).utcoffset() or dt.timedelta(0)
        name = dt.datetime(year, 1, 1, tzinfo=zone).tzname() or tzid
        steady = _Transition(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), offset, offset, name)
        timezone.add_component(
            _component(icalendar.TimezoneStandard, dt.datetime(1970, 1, 1), steady)
        )
        return bytes(timezone.to_ical())
    rules = [_weekday_rule(t.local) for t in transitions]
    follows_rule = len(transitions) == 2 and all(
        [(t.local.month, t.local.day) for t in _transitions(zone, other)]
        == [(m, _nth_weekday(other, m, byday)) for m, byday in rules]
        for other in (year - 1, year + 1)
    )
    for transition, (month, byday) in zip(transitions, rules, strict=True):
        kind = (
            icalendar.TimezoneDaylight
            if transition.offset_after > transition.offset_before
            else icalendar.TimezoneStandard
        )
        if follows_rule:
            anchor = transition.local.replace(year=1970, day=_nth_weekday(1970, month, byday))
            component = _component(kind, anchor, transition)
            component.add("rrule", {"freq": "yearly", "bymonth": month, "byday": byday})
            timezone.add_component(component)
    if not follows_rule:
        for other in range(year - 1, year + 4):
            for transition in _transitions(zone, other):
                kind = (
                    icalendar.TimezoneDaylight
                    if transition.offset_after > transition.offset_before
                    else icalendar.TimezoneStandard
                )
                timezone.add_component(_component(kind, transition.local, transition))
    return bytes(timezone.to_ical())


# --- calendars ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarInfo:
    name: str
    description: str
    source_url: str


def render_calendar(
    info: CalendarInfo, tzids: Iterable[str], blocks: Iterable[bytes], *, year: int
) -> bytes:
    """A whole VCALENDAR: header, one VTIMEZONE per zone used, then the event blocks.

    The header's lines are written here, in the order icalendar writes them, so that its
    TEXT (a coalition's name, a campaign's title) is escaped like a VEVENT's: icalendar
    writes NAME and the X-WR- properties as they come, so a line break in a name ended the
    line (or failed), and a stored CR started a line of the organizer's choosing.
    """
    refresh = icalendar.vDuration(REFRESH).to_ical().decode()  # type: ignore[no-untyped-call]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALDESC:{_text(info.description)}",
        f"NAME:{_text(info.name)}",
        f"X-WR-CALNAME:{_text(info.name)}",
        # icalendar's refresh_interval helper omits the required VALUE=DURATION parameter.
        f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}",
        f"SOURCE;VALUE=URI:{info.source_url}",
        f"X-PUBLISHED-TTL:{refresh}",
    ]
    end = b"END:VCALENDAR" + CRLF
    opening = b"".join([_fold(line) for line in lines])
    parts = [opening]
    parts.extend(vtimezone(tzid, year) for tzid in sorted(set(tzids)))
    parts.extend(blocks)
    parts.append(end)
    return b"".join(parts)
