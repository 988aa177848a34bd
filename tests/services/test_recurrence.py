"""Recurrence rules as organizers write them: which rules are accepted, and when a series meets.

The dates are chosen so the expected values can be checked with a calendar: 2027-01-23 is a
Saturday, and US daylight saving time begins on Sunday 2027-03-14 (the second Sunday of
March), when Chicago moves from UTC-6 to UTC-5.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from federation.recurrence import (
    MAX_OCCURRENCES,
    MAX_PER_DAY,
    RecurrenceError,
    Series,
    parse_series,
)

CHICAGO = ZoneInfo("America/Chicago")
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def local(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    """A wall-clock time in Chicago."""
    return dt.datetime(year, month, day, hour, tzinfo=CHICAGO)


def utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


def series(
    rule: str,
    starts_at: dt.datetime,
    duration: dt.timedelta = 2 * HOUR,
    *,
    all_day: bool = False,
    timezone: str = "America/Chicago",
) -> Series:
    return parse_series(
        rule,
        starts_at=starts_at,
        ends_at=starts_at + duration,
        timezone=timezone,
        all_day=all_day,
    )


def nightly_across_dst() -> Series:
    """A nightly 19:00-20:00 vigil from Monday 2027-03-01 to Saturday 2027-03-20 inclusive.

    19:00 CDT on the 20th is 00:00 UTC on the 21st, so that is the UNTIL (inclusive).
    """
    return series("FREQ=DAILY;UNTIL=20270321T000000Z", local(2027, 3, 1, 19), HOUR)


# Accepting and refusing rules


@pytest.mark.parametrize(
    ("rule", "last_start"),
    [
        # UNTIL is inclusive: an occurrence exactly at UNTIL (19:00 CST = 01:00 UTC) counts.
        ("FREQ=DAILY;UNTIL=20270127T010000Z", local(2027, 1, 26, 19)),
        ("FREQ=DAILY;UNTIL=20270127T005959Z", local(2027, 1, 25, 19)),
        ("FREQ=DAILY;COUNT=4", local(2027, 1, 26, 19)),
        ("FREQ=WEEKLY;COUNT=3", local(2027, 2, 6, 19)),
        ("FREQ=MONTHLY;COUNT=2", local(2027, 2, 23, 19)),
        ("FREQ=YEARLY;COUNT=2", local(2028, 1, 23, 19)),
        # Organizers type rules by hand: lower case and stray spaces around it are fine.
        ("  freq=weekly;byday=sa;count=2 ", local(2027, 1, 30, 19)),
        # 2027-01-23 is the 4th and the second-to-last Saturday of its month, the 4th of its year.
        ("FREQ=MONTHLY;BYDAY=4SA;COUNT=2", local(2027, 2, 27, 19)),
        ("FREQ=MONTHLY;BYDAY=-2SA;COUNT=2", local(2027, 2, 20, 19)),
        ("FREQ=YEARLY;BYDAY=4SA;COUNT=2", local(2028, 1, 22, 19)),
        ("FREQ=MONTHLY;BYMONTHDAY=-9;COUNT=2", local(2027, 2, 20, 19)),
    ],
)
def test_bounded_rules_end_with_their_last_occurrence(rule: str, last_start: dt.datetime) -> None:
    parsed = series(rule, local(2027, 1, 23, 19))

    assert parsed.last_end() == last_start + 2 * HOUR


def test_open_ended_rule_has_no_end() -> None:
    parsed = series("FREQ=WEEKLY;BYDAY=SA", local(2027, 1, 23, 19))

    assert parsed.last_end() is None
    # ...and yet it keeps producing Saturdays, decades later.
    found = parsed.first_start_between(utc(2100, 1, 1), utc(2100, 1, 10))
    assert found is not None
    assert found.astimezone(CHICAGO).weekday() == 5
    assert found.astimezone(CHICAGO).time() == dt.time(19, 0)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=FOO", "FREQ must be one of"),
        ("COUNT=3", "FREQ must be one of"),
        # Sub-daily rules would expand one row into millions of occurrences.
        ("FREQ=HOURLY;COUNT=3", "FREQ must be one of"),
        ("FREQ=MINUTELY", "FREQ must be one of"),
        ("garbage", "FREQ must be one of"),
        ("", "single RFC 5545 RRULE value"),
        ("RRULE:FREQ=DAILY", "without a 'RRULE:' prefix"),
        ("FREQ=DAILY\nCOUNT=3", "line breaks"),
        ("FREQ=DAILY;COUNT=X", "not a valid RRULE"),
        ("FREQ=DAILY;INTERVAL=0", "not a valid RRULE"),
        ("FREQ=DAILY;FOO=BAR", "not a valid RRULE"),
        ("FREQ=YEARLY;BYEASTER=0", "BYEASTER"),
        # A timed series needs a UTC UNTIL (RFC 5545 3.3.10); a bare date is ambiguous.
        ("FREQ=DAILY;UNTIL=20270130", "not a valid RRULE"),
        # 2027-01-23 is a Saturday, so a Monday rule would not include the first start.
        ("FREQ=WEEKLY;BYDAY=MO", "starts_at must itself be an occurrence"),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "starts_at must itself be an occurrence"),
        ("FREQ=MONTHLY;BYDAY=-1SA", "starts_at must itself be an occurrence"),
        # Never matches: refused from the first start, not after a search to the year 9999.
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31;COUNT=3", "starts_at must itself be an occurrence"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270130T000000Z", "COUNT and UNTIL"),
        ("FREQ=DAILY;COUNT=3;COUNT=4", "only once"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL must be from 1"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be from 1"),
        ("FREQ=MONTHLY;BYWEEKNO=3", "BYWEEKNO needs FREQ=YEARLY"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs"),
    ],
)
def test_unacceptable_rules_are_refused_with_a_reason(rule: str, message: str) -> None:
    with pytest.raises(RecurrenceError, match=message):
        series(rule, local(2027, 1, 23, 19))


def test_series_ending_after_2200_is_refused() -> None:
    parsed = series("FREQ=YEARLY;INTERVAL=1000;COUNT=3", local(2027, 1, 23, 19))

    with pytest.raises(RecurrenceError, match="runs past 2200"):
        parsed.last_end()


def test_recurrence_error_is_a_value_error() -> None:
    """Callers that validate input generically (catching ValueError) still catch it."""
    assert issubclass(RecurrenceError, ValueError)


def test_all_day_series_takes_a_date_until_and_refuses_a_utc_one() -> None:
    start = local(2027, 1, 23)

    accepted = series("FREQ=DAILY;UNTIL=20270125", start, DAY, all_day=True)

    assert accepted.last_end() == local(2027, 1, 26)
    with pytest.raises(RecurrenceError, match="not a valid RRULE"):
        series("FREQ=DAILY;UNTIL=20270125T000000Z", start, DAY, all_day=True)


def test_at_most_max_occurrences() -> None:
    start = local(2027, 1, 23, 19)

    at_limit = series(f"FREQ=DAILY;COUNT={MAX_OCCURRENCES}", start)
    over_limit = series(f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}", start)

    last_start = start + (MAX_OCCURRENCES - 1) * DAY  # no DST shift: both in CST (January)
    assert last_start.month == 1
    assert at_limit.last_end() == last_start + 2 * HOUR
    with pytest.raises(RecurrenceError, match=str(MAX_OCCURRENCES)):
        over_limit.last_end()


def test_until_far_away_is_limited_like_count() -> None:
    """Fifteen years of nightly actions is more than the limit, however it is spelled."""
    parsed = series("FREQ=DAILY;UNTIL=20420101T000000Z", local(2027, 1, 23, 19))

    with pytest.raises(RecurrenceError, match="more than"):
        parsed.last_end()


# Daylight saving time


def test_nightly_series_stays_at_local_time_across_dst() -> None:
    parsed = nightly_across_dst()

    starts = parsed.starts_between(utc(2027, 3, 1), utc(2027, 3, 22))

    assert [s.astimezone(CHICAGO).date() for s in starts] == [
        dt.date(2027, 3, day) for day in range(1, 21)
    ]
    assert {s.astimezone(CHICAGO).time() for s in starts} == {dt.time(19, 0)}
    offsets = {s.astimezone(CHICAGO).date(): s.astimezone(CHICAGO).utcoffset() for s in starts}
    assert offsets[dt.date(2027, 3, 13)] == -6 * HOUR
    assert offsets[dt.date(2027, 3, 14)] == -5 * HOUR
    # In UTC the vigil moves an hour earlier: 01:00 UTC (next day) before, 00:00 UTC after.
    assert starts[12] == utc(2027, 3, 14, 1)
    assert starts[13] == utc(2027, 3, 15, 0)
    assert parsed.last_end() == utc(2027, 3, 21, 1)


def test_occurrence_after_dst_is_recognized_only_at_the_new_offset() -> None:
    parsed = nightly_across_dst()

    assert parsed.contains(local(2027, 3, 16, 19))
    # 19:00 at the winter offset is 20:00 in summer: not when the vigil starts.
    assert not parsed.contains(dt.datetime(2027, 3, 16, 19, tzinfo=dt.timezone(-6 * HOUR)))
    assert parsed.contains(dt.datetime(2027, 3, 10, 19, tzinfo=dt.timezone(-6 * HOUR)))


def test_all_day_series_runs_midnight_to_midnight_across_dst() -> None:
    parsed = series("FREQ=DAILY;COUNT=3", local(2027, 3, 13), DAY, all_day=True)

    starts = parsed.starts_between(utc(2027, 3, 1), utc(2027, 4, 1))

    assert starts == [local(2027, 3, 13), local(2027, 3, 14), local(2027, 3, 15)]
    assert {s.astimezone(CHICAGO).time() for s in starts} == {dt.time(0, 0)}
    # The clocks change at 02:00 on Sunday the 14th, so that day still begins in CST.
    assert [s.astimezone(CHICAGO).utcoffset() for s in starts] == [-6 * HOUR, -6 * HOUR, -5 * HOUR]
    assert parsed.contains(local(2027, 3, 14))
    assert parsed.last_end() == local(2027, 3, 16)


# Exceptions (EXDATE)


def test_exdate_removes_exactly_one_occurrence() -> None:
    parsed = series("FREQ=DAILY;COUNT=5", local(2027, 1, 23, 19))
    skipped = local(2027, 1, 24, 19)

    found = parsed.first_start_between(local(2027, 1, 23, 20), local(2027, 1, 31), [skipped])

    assert found == local(2027, 1, 25, 19)
    assert parsed.first_start_between(local(2027, 1, 23, 20), local(2027, 1, 31)) == skipped
    # The other occurrences are untouched: the series still ends on the 27th.
    assert parsed.last_end([skipped]) == local(2027, 1, 27, 21)


def test_exdate_matches_the_instant_whatever_its_offset() -> None:
    parsed = series("FREQ=DAILY;COUNT=3", local(2027, 1, 23, 19))
    same_instant_in_utc = utc(2027, 1, 25, 1)  # 19:00 CST on the 24th

    found = parsed.first_start_between(
        local(2027, 1, 23, 20), local(2027, 1, 31), [same_instant_in_utc]
    )

    assert found == local(2027, 1, 25, 19)


def test_excluding_the_last_occurrence_ends_the_series_earlier() -> None:
    parsed = series("FREQ=DAILY;COUNT=3", local(2027, 1, 23, 19))

    assert parsed.last_end([local(2027, 1, 25, 19)]) == local(2027, 1, 24, 21)
    # A moment that is not an occurrence excludes nothing.
    assert parsed.last_end([local(2027, 1, 25, 18)]) == local(2027, 1, 25, 21)


def test_excluding_every_occurrence_is_an_error() -> None:
    parsed = series("FREQ=DAILY;COUNT=2", local(2027, 1, 23, 19))

    with pytest.raises(RecurrenceError, match="every occurrence"):
        parsed.last_end([local(2027, 1, 23, 19), local(2027, 1, 24, 19)])


def test_window_holding_only_excluded_occurrences_finds_nothing() -> None:
    parsed = series("FREQ=WEEKLY", local(2027, 1, 23, 19))
    excluded = [local(2027, 1, 30, 19), local(2027, 2, 6, 19)]

    found = parsed.first_start_between(local(2027, 1, 29), local(2027, 2, 7), excluded)

    assert found is None


# Boundaries


def test_contains_only_exact_occurrence_starts() -> None:
    parsed = series("FREQ=DAILY;COUNT=3", local(2027, 1, 23, 19))

    assert parsed.contains(local(2027, 1, 23, 19))
    assert parsed.contains(local(2027, 1, 25, 19))
    assert parsed.contains(utc(2027, 1, 24, 1))  # the same as 19:00 CST on the 23rd
    assert not parsed.contains(local(2027, 1, 22, 19))  # before the first
    assert not parsed.contains(local(2027, 1, 26, 19))  # after COUNT ran out
    assert not parsed.contains(local(2027, 1, 24, 19) + SECOND)
    assert not parsed.contains(local(2027, 1, 24, 19) - SECOND)
    assert not parsed.contains(local(2027, 1, 24, 20))


def test_starts_between_excludes_both_ends() -> None:
    parsed = series("FREQ=DAILY;COUNT=5", local(2027, 1, 23, 19))
    first, second, third = local(2027, 1, 23, 19), local(2027, 1, 24, 19), local(2027, 1, 25, 19)

    assert parsed.starts_between(first, third) == [second]
    assert parsed.starts_between(first - SECOND, third + SECOND) == [first, second, third]
    assert parsed.starts_between(first, second) == []


def test_starts_between_is_in_utc() -> None:
    """Whatever the zone of the window, occurrences come back as UTC instants."""
    parsed = series("FREQ=DAILY;COUNT=2", local(2027, 1, 23, 19))

    starts = parsed.starts_between(utc(2027, 1, 1), utc(2027, 2, 1))

    assert [s.utcoffset() for s in starts] == [dt.timedelta(0), dt.timedelta(0)]
    assert starts == [utc(2027, 1, 24, 1), utc(2027, 1, 25, 1)]


def test_first_start_between_excludes_both_ends() -> None:
    parsed = series("FREQ=DAILY;COUNT=5", local(2027, 1, 23, 19))
    second, third = local(2027, 1, 24, 19), local(2027, 1, 25, 19)

    assert parsed.first_start_between(second, third) is None
    assert parsed.first_start_between(second - SECOND, third) == second
    assert parsed.first_start_between(second, third + SECOND) == third


def test_first_start_between_ends_with_the_series() -> None:
    parsed = series("FREQ=DAILY;COUNT=3", local(2027, 1, 23, 19))

    assert parsed.first_start_between(local(2027, 1, 25, 19), utc(2100, 1, 1)) is None
    assert parsed.first_start_between(local(2027, 1, 1), local(2027, 1, 23, 19)) is None


def test_first_start_between_of_a_series_that_started_long_ago() -> None:
    """A weekly meeting since 2027 is still found in a window in 2190, at its local time."""
    parsed = series("FREQ=WEEKLY", local(2027, 1, 23, 19))

    found = parsed.first_start_between(utc(2190, 6, 1), utc(2190, 6, 8))

    assert found is not None
    assert found.astimezone(CHICAGO).weekday() == 5
    assert found.astimezone(CHICAGO).time() == dt.time(19, 0)
    assert utc(2190, 6, 1) < found < utc(2190, 6, 8)


# Cost: bounded per day, and independent of the series' age


@pytest.mark.parametrize(
    ("rule", "accepted"),
    [
        # Picket shifts around the clock, every three hours: eight a day.
        ("FREQ=DAILY;BYHOUR=1,4,7,10,13,16,19,22", True),
        ("FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=19;BYMINUTE=0,30", True),
        ("FREQ=DAILY;BYHOUR=1,4,7,10,13,16,19,22;BYMINUTE=0,30", False),
        # The review's rule: every second of every day, with no end.
        (
            "FREQ=DAILY;BYHOUR="
            + ",".join(map(str, range(24)))
            + ";BYMINUTE="
            + ",".join(map(str, range(60)))
            + ";BYSECOND="
            + ",".join(map(str, range(60))),
            False,
        ),
    ],
)
def test_occurrences_a_day_are_bounded(rule: str, accepted: bool) -> None:
    if accepted:
        assert series(rule, local(2027, 1, 23, 19)).last_end() is None
    else:
        with pytest.raises(RecurrenceError, match=f"at most {MAX_PER_DAY}"):
            series(rule, local(2027, 1, 23, 19))


ZONES = (
    "America/Chicago",
    "Europe/London",
    "Pacific/Auckland",
    "Asia/Kolkata",
    # DST changes at midnight, and by half an hour.
    "America/Santiago",
    "Australia/Lord_Howe",
    "UTC",
)


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, dt.datetime, str, bool]:
    """A rule an organizer could write, with a first start that is one of its occurrences
    (the start is drawn first; BY parts are taken from it where they must match)."""
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    all_day = draw(st.booleans())
    day = draw(st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2030, 12, 31)))
    hour = 0 if all_day else draw(st.integers(0, 23))
    minute = 0 if all_day else draw(st.sampled_from([0, 30]))
    second = 0 if all_day else draw(st.sampled_from([0, 15]))
    start = dt.datetime.combine(day, dt.time(hour, minute, second))
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 4))}"]
    weekday = _WEEKDAY_CODES[start.weekday()]
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(_WEEKDAY_CODES))}")
    if freq == "WEEKLY" and draw(st.booleans()):
        others = draw(st.lists(st.sampled_from(_WEEKDAY_CODES), max_size=3))
        parts.append("BYDAY=" + ",".join(dict.fromkeys([weekday, *others])))
    if freq == "MONTHLY":
        shape = draw(st.sampled_from(["day", "nth", "last", "plain"]))
        if shape == "day":
            parts.append(f"BYMONTHDAY={start.day}")
        elif shape == "nth":
            parts.append(f"BYDAY={(start.day - 1) // 7 + 1}{weekday}")
        elif shape == "last":
            parts.append(f"BYDAY={weekday};BYSETPOS=-1,1,2,3,4")
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append(f"BYMONTH={start.month};BYDAY={(start.day - 1) // 7 + 1}{weekday}")
    if not all_day and draw(st.booleans()):
        parts.append(f"BYHOUR={hour},{(hour + 12) % 24};BYMINUTE={start.minute}")
    return ";".join(parts), start.replace(tzinfo=zone), zone_name, all_day


_WEEKDAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    drawn=rules(),
    years=st.integers(0, 60),
    days=st.integers(0, 365),
    length=st.integers(1, 90),
)
def test_a_window_far_from_the_start_holds_what_the_whole_walk_finds(
    drawn: tuple[str, dt.datetime, str, bool], years: int, days: int, length: int
) -> None:
    """Expanding from the period before a window yields exactly the occurrences that walking
    the rule from its first start yields there: every frequency, interval, week start, BY
    list, all-day series and zones that change at midnight or by half an hour."""
    rule, start, zone, all_day = drawn
    try:
        parsed = series(rule, start, HOUR if not all_day else DAY, all_day=all_day, timezone=zone)
    except RecurrenceError:
        assume(False)
        return
    after = start.astimezone(dt.UTC) + dt.timedelta(days=365 * years + days, hours=7)
    before = after + dt.timedelta(days=length)
    walked = [
        parsed._aware(local)
        for local in parsed.rule.between(parsed._local(after), parsed._local(before), inc=False)
    ]

    assert parsed.starts_between(after, before) == walked
    assert [s for s, _ in parsed.occurrences(before, since=after)] == [
        s for s in walked if s >= after
    ]
    assert all(parsed.contains(moment) for moment in walked[:3])
    assert parsed.first_start_between(after, before) == (walked[0] if walked else None)


def test_many_exdates_are_checked_at_once() -> None:
    """500 skipped nights of a series running for years: each is recognized as a night of the
    series, and one that is not is named."""
    nightly = series("FREQ=DAILY", local(2000, 1, 1, 19))
    counted = series("FREQ=DAILY;COUNT=3000", local(2000, 1, 1, 19))
    nights = [local(2000, 1, 1, 19) + 7 * index * DAY for index in range(400)]
    stray = local(2003, 5, 5, 18)

    for parsed in (nightly, counted):
        assert parsed.strays([*nights, stray]) == [stray]
