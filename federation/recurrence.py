"""RFC 5545 recurrence rules: validation and occurrence expansion, pure functions on datetimes."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

# Sub-daily frequencies make no sense for an action and let one row expand to millions of
# occurrences; calendar clients choke on them too.
ALLOWED_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_MAX_NUMBER = 10_000
# A bounded series is expanded when saved (to index its end); ten years of nightly actions.
MAX_OCCURRENCES = 3660
LATEST_START = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
_RULE_CHARS = re.compile(r"^[A-Z0-9=;,+\-]+$")


class RecurrenceError(ValueError):
    """The rule or an exception date is not acceptable; the message is for the user."""


@dataclass(frozen=True)
class Series:
    """A validated recurrence: the rule anchored at the first start, in the event's wall time."""

    rule: rrule
    zone: ZoneInfo
    all_day: bool
    duration: dt.timedelta
    bounded: bool

    def _local(self, moment: dt.datetime) -> dt.datetime:
        local = moment.astimezone(self.zone)
        # All-day series run on naive dates (RFC 5545 DATE values), timed ones on aware
        # wall-clock times so that 19:00 stays 19:00 across a DST change.
        return local.replace(tzinfo=None) if self.all_day else local

    def _aware(self, local: dt.datetime) -> dt.datetime:
        if self.all_day:
            return local.replace(tzinfo=self.zone).astimezone(dt.UTC)
        return local.astimezone(dt.UTC)

    def contains(self, moment: dt.datetime) -> bool:
        local = self._local(moment)
        return local in self.rule.between(
            local - dt.timedelta(seconds=1), local + dt.timedelta(seconds=1), inc=True
        )

    def starts_between(self, after: dt.datetime, before: dt.datetime) -> list[dt.datetime]:
        """Occurrence starts strictly inside (after, before), in UTC."""
        local_starts = self.rule.between(self._local(after), self._local(before), inc=False)
        return [self._aware(start) for start in local_starts]

    def first_start_between(
        self, after: dt.datetime, before: dt.datetime, excluding: Iterable[dt.datetime] = ()
    ) -> dt.datetime | None:
        """The first occurrence start strictly inside (after, before) not excluded, in UTC.

        Walks the rule lazily from `after`, so a far window costs as little as a near one.
        """
        excluded = {moment.astimezone(dt.UTC) for moment in excluding}
        try:
            for local_start in self.rule.xafter(self._local(after), inc=False):
                start = self._aware(local_start)
                if start >= before:
                    return None
                if start not in excluded:
                    return start
        except (ValueError, OverflowError):  # the rule ran past year 9999
            return None
        return None

    def last_end(self, excluding: Iterable[dt.datetime] = ()) -> dt.datetime | None:
        """End of the last occurrence not excluded, or None for an open-ended series."""
        if not self.bounded:
            return None
        excluded = {moment.astimezone(dt.UTC) for moment in excluding}
        last = None
        try:
            for index, local_start in enumerate(self.rule):
                if index >= MAX_OCCURRENCES:
                    raise RecurrenceError(
                        f"the rule yields more than {MAX_OCCURRENCES} occurrences"
                    )
                start = self._aware(local_start)
                if start >= LATEST_START:
                    # The same bound as every other date the API takes.
                    raise RecurrenceError(f"the rule runs past {LATEST_START.year}")
                if start not in excluded:
                    last = start
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, RecurrenceError):
                raise
            raise RecurrenceError("the rule runs past the year 9999") from exc
        if last is None:
            raise RecurrenceError("every occurrence of the rule is excluded")
        return last + self.duration


_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _numbers(parts: dict[str, str], name: str) -> list[int] | None:
    return [int(value) for value in parts[name].split(",")] if name in parts else None


def _filters_admit(parts: dict[str, str], start: dt.datetime) -> bool:
    """Whether `start` passes the rule's BYxxx filters (a necessary condition for it to be an
    occurrence; BYSETPOS and BYWEEKNO are left to dateutil)."""
    month_days = calendar.monthrange(start.year, start.month)[1]
    year_days = 366 if calendar.isleap(start.year) else 365
    year_day = start.timetuple().tm_yday
    single = {
        "BYMONTH": [start.month],
        "BYMONTHDAY": [start.day, start.day - month_days - 1],
        "BYYEARDAY": [year_day, year_day - year_days - 1],
        "BYHOUR": [start.hour],
        "BYMINUTE": [start.minute],
        "BYSECOND": [start.second],
    }
    for name, accepted in single.items():
        wanted = _numbers(parts, name)
        if wanted is not None and not set(wanted) & set(accepted):
            return False
    if "BYDAY" not in parts:
        return True
    # An ordinal counts within the month (MONTHLY, or YEARLY with BYMONTH), else the year.
    if parts["FREQ"] == "MONTHLY" or "BYMONTH" in parts:
        index, length = start.day, month_days
    else:
        index, length = year_day, year_days
    ordinals = {(index - 1) // 7 + 1, -((length - index) // 7 + 1)}
    for entry in parts["BYDAY"].split(","):
        ordinal, weekday = entry[:-2], entry[-2:]
        if weekday != _WEEKDAYS[start.weekday()]:
            continue
        if ordinal in ("", "+") or parts["FREQ"] in ("DAILY", "WEEKLY") or int(ordinal) in ordinals:
            return True
    return False


def parse_series(
    value: str, *, starts_at: dt.datetime, ends_at: dt.datetime, timezone: str, all_day: bool
) -> Series:
    """Validate an RRULE value (without the "RRULE:" prefix) against the event's first start."""
    text = value.strip().upper()
    if not _RULE_CHARS.match(text):
        raise RecurrenceError(
            "must be a single RFC 5545 RRULE value such as FREQ=WEEKLY;BYDAY=MO, "
            "without a 'RRULE:' prefix or line breaks"
        )
    pairs = [part.partition("=")[::2] for part in text.split(";") if part]
    parts = dict(pairs)
    if len(parts) != len(pairs):
        raise RecurrenceError("not a valid RRULE: each rule part may appear only once")
    if "COUNT" in parts and "UNTIL" in parts:
        # RFC 5545 forbids both; dateutil only warns, and later versions refuse such a rule.
        raise RecurrenceError("not a valid RRULE: COUNT and UNTIL must not both be given")
    if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
        raise RecurrenceError(f"FREQ must be one of {', '.join(sorted(ALLOWED_FREQUENCIES))}")
    if "BYEASTER" in parts:
        raise RecurrenceError("BYEASTER is not part of RFC 5545")
    if "BYWEEKNO" in parts and parts["FREQ"] != "YEARLY":
        raise RecurrenceError("not a valid RRULE: BYWEEKNO needs FREQ=YEARLY")
    if "BYSETPOS" in parts and parts["FREQ"] == "DAILY":
        raise RecurrenceError("not a valid RRULE: BYSETPOS needs a WEEKLY or longer FREQ")
    for name in ("INTERVAL", "COUNT"):
        # dateutil accepts INTERVAL=0 and then never advances: one request would spin forever.
        if name in parts and not (parts[name].isdigit() and 0 < int(parts[name]) <= _MAX_NUMBER):
            raise RecurrenceError(f"not a valid RRULE: {name} must be from 1 to {_MAX_NUMBER}")
    zone = ZoneInfo(timezone)
    series_start = starts_at.astimezone(zone)
    if all_day:
        series_start = series_start.replace(tzinfo=None)
    try:
        rule = rrulestr(text, dtstart=series_start, forceset=False, unfold=False)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from exc
    if not isinstance(rule, rrule):
        raise RecurrenceError("must be a single RRULE")
    series = Series(
        rule=rule,
        zone=zone,
        all_day=all_day,
        duration=ends_at - starts_at,
        bounded="COUNT" in parts or "UNTIL" in parts,
    )
    # RFC 5545 leaves a series whose DTSTART is not itself an occurrence undefined, and
    # clients do disagree on it: refuse it rather than show different dates in each.
    # dateutil looks for the next match up to the year 9999: for a rule that never matches
    # (February 31) that is seconds of CPU per request. The filters are checked on the first
    # start directly, so such a rule is refused before dateutil searches.
    try:
        synchronized = _filters_admit(parts, series_start) and series.contains(starts_at)
    except (ValueError, OverflowError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from exc
    if not synchronized:
        raise RecurrenceError("starts_at must itself be an occurrence of the rule")
    return series
