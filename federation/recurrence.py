"""RFC 5545 recurrence rules: validation and occurrence expansion, pure functions on datetimes."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

# Sub-daily frequencies make no sense for an action and let one row expand to millions of
# occurrences; calendar clients choke on them too.
ALLOWED_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_MAX_NUMBER = 10_000
# A bounded series is expanded when saved (to index its end); ten years of nightly actions.
MAX_OCCURRENCES = 3660
# BYHOUR, BYMINUTE and BYSECOND lists multiply the occurrences of every day of a DAILY or
# longer rule: without a bound, a "daily" rule yields every second and the ban on sub-daily
# frequencies means nothing. Eight a day is a picket in three-hour shifts around the clock.
MAX_PER_DAY = 8
LATEST_START = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
_RULE_CHARS = re.compile(r"^[A-Z0-9=;,+\-]+$")


class RecurrenceError(ValueError):
    """The rule or an exception date is not acceptable; the message is for the user."""


@dataclass(frozen=True)
class Series:
    """A validated recurrence: the rule anchored at the first start, in the event's wall time.

    dateutil walks a rule from its DTSTART, whatever window it is asked about (`between`,
    `xafter` and `in` included), so a nightly series started years ago costs years of steps
    in every window. A series therefore also keeps its rule with every part explicit
    (`_explicit`): anchored at the start of any later period of the rule (a day, week, month
    or year, counted in INTERVALs from the first start), it yields the same occurrences from
    there on, and a window is expanded from the period before it instead of from the start.
    A COUNT rule cannot be moved (the count runs from the first start); it has at most
    MAX_OCCURRENCES occurrences, which bounds its cost.
    """

    rule: rrule
    zone: ZoneInfo
    all_day: bool
    duration: dt.timedelta
    bounded: bool
    start: dt.datetime  # the first start, in the rule's wall time (naive for all-day series)
    freq: str
    interval: int
    wkst: int
    counted: bool
    explicit_text: str  # the rule with every default part written out (the class docstring)
    per_day: int  # the most occurrences one day can hold

    def _local(self, moment: dt.datetime) -> dt.datetime:
        local = moment.astimezone(self.zone)
        # All-day series run on naive dates (RFC 5545 DATE values), timed ones on aware
        # wall-clock times so that 19:00 stays 19:00 across a DST change.
        return local.replace(tzinfo=None) if self.all_day else local

    def _aware(self, local: dt.datetime) -> dt.datetime:
        if self.all_day:
            return local.replace(tzinfo=self.zone).astimezone(dt.UTC)
        return local.astimezone(dt.UTC)

    def rule_near(self, moment: dt.datetime) -> rrule:
        """A rule yielding exactly this series' occurrences from shortly before `moment` on
        (from the start of the rule's period before the one holding it)."""
        if self.counted:
            return self.rule
        local = self._local(moment)
        begin = _period_start(self, local) if local > self.start else None
        if begin is None:
            return self.rule
        # Every part is explicit, so none is derived again from the new start.
        return self._explicit.replace(dtstart=begin)

    @functools.cached_property
    def _explicit(self) -> rrule:
        # Parsed when first needed: most series are only ever read near their start.
        rule = rrulestr(self.explicit_text, dtstart=self.start, forceset=False, unfold=False)
        assert isinstance(rule, rrule)  # the same parts as the rule parse_series accepted
        return rule

    def contains(self, moment: dt.datetime) -> bool:
        local = self._local(moment)
        rule = self.rule_near(moment - dt.timedelta(seconds=1))
        return local in rule.between(
            local - dt.timedelta(seconds=1), local + dt.timedelta(seconds=1), inc=True
        )

    def strays(self, moments: Iterable[dt.datetime]) -> list[dt.datetime]:
        """Those of `moments` that are not occurrence starts."""
        moments = list(moments)
        if not moments:
            return []
        if self.counted:
            # One walk of the whole (bounded) series rather than one per moment.
            starts = {start for start, _ in self.occurrences(LATEST_START)}
            return [m for m in moments if m.astimezone(dt.UTC) not in starts]
        return [m for m in moments if not self.contains(m)]

    def starts_between(self, after: dt.datetime, before: dt.datetime) -> list[dt.datetime]:
        """Occurrence starts strictly inside (after, before), in UTC."""
        rule = self.rule_near(after)
        local_starts = rule.between(self._local(after), self._local(before), inc=False)
        return [self._aware(start) for start in local_starts]

    def first_start_between(
        self, after: dt.datetime, before: dt.datetime, excluding: Iterable[dt.datetime] = ()
    ) -> dt.datetime | None:
        """The first occurrence start strictly inside (after, before) not excluded, in UTC."""
        excluded = {moment.astimezone(dt.UTC) for moment in excluding}
        try:
            for local_start in self.rule_near(after).xafter(self._local(after), inc=False):
                start = self._aware(local_start)
                if start >= before:
                    return None
                if start not in excluded:
                    return start
        except (ValueError, OverflowError):  # the rule ran past year 9999
            return None
        return None

    def occurrences(
        self,
        until: dt.datetime,
        *,
        since: dt.datetime | None = None,
        excluding: Iterable[dt.datetime] = (),
    ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """(start, end) in UTC of each occurrence not excluded starting in [since, until)
        (from the first start when `since` is None), in order."""
        excluded = {moment.astimezone(dt.UTC) for moment in excluding}
        if since is None:
            rule, local_since = self.rule, self.start
        else:
            rule, local_since = self.rule_near(since), self._local(since)
        try:
            for local_start in rule.xafter(local_since, inc=True):
                start = self._aware(local_start)
                if start >= until:
                    return
                if since is not None and start < since:
                    continue  # the same wall time just before a DST change
                if start not in excluded:
                    yield start, start + self.duration
        except (ValueError, OverflowError):  # the rule ran past year 9999
            return

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


def _period_start(series: Series, local: dt.datetime) -> dt.datetime | None:
    """The start of the rule's period before the one holding `local` (None: that is the
    first period): midnight of a day, of the week's first day (WKST), of a month's or a
    year's first day, a whole number of INTERVALs after the period of the first start. The
    period before, so that nothing near a period's edge (a wall time made ambiguous by a DST
    change, say) is missed."""
    first, target, step = series.start.date(), local.date(), series.interval
    if series.freq == "DAILY":
        periods = (target - first).days // step - 1
        day = first + dt.timedelta(days=max(periods, 0) * step)
    elif series.freq == "WEEKLY":
        week = first - dt.timedelta(days=(first.weekday() - series.wkst) % 7)
        periods = (target - week).days // (7 * step) - 1
        day = week + dt.timedelta(weeks=max(periods, 0) * step)
    elif series.freq == "MONTHLY":
        periods = ((target.year - first.year) * 12 + target.month - first.month) // step - 1
        index = first.year * 12 + first.month - 1 + max(periods, 0) * step
        day = dt.date(index // 12, index % 12 + 1, 1)
    else:
        periods = (target.year - first.year) // step - 1
        day = dt.date(first.year + max(periods, 0) * step, 1, 1)
    if periods <= 0:
        return None
    begin = dt.datetime.combine(day, dt.time())
    return begin if series.all_day else begin.replace(tzinfo=series.zone)


def _explicit(parts: dict[str, str], start: dt.datetime) -> str:
    """The rule with the parts that default to the first start's written out (RFC 5545
    3.3.10, as dateutil applies it), so that it means the same from any other start."""
    explicit = dict(parts)
    for name, value in (("BYHOUR", start.hour), ("BYMINUTE", start.minute)):
        explicit.setdefault(name, str(value))
    explicit.setdefault("BYSECOND", str(start.second))
    if not any(name in parts for name in ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY")):
        if parts["FREQ"] == "WEEKLY":
            explicit["BYDAY"] = _WEEKDAYS[start.weekday()]
        elif parts["FREQ"] == "MONTHLY":
            explicit["BYMONTHDAY"] = str(start.day)
        elif parts["FREQ"] == "YEARLY":
            explicit.setdefault("BYMONTH", str(start.month))
            explicit["BYMONTHDAY"] = str(start.day)
    return ";".join(f"{name}={value}" for name, value in explicit.items())


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
    """Validate an RRULE value (without the "RRULE:" prefix) against the event's first start.

    Remembered (a Series is immutable): validating a write, indexing it and showing it parse
    the same rule, and a page shows the same few series again and again."""
    return _parse_series(value, starts_at, ends_at, timezone, all_day)


@functools.lru_cache(maxsize=1024)
def _parse_series(
    value: str, starts_at: dt.datetime, ends_at: dt.datetime, timezone: str, all_day: bool
) -> Series:
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
    per_day = 1
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        per_day *= len(set(_numbers(parts, name) or [0]))
    if per_day > MAX_PER_DAY:
        raise RecurrenceError(
            f"the rule yields {per_day} occurrences a day (BYHOUR x BYMINUTE x BYSECOND); "
            f"at most {MAX_PER_DAY}"
        )
    series = Series(
        rule=rule,
        zone=zone,
        all_day=all_day,
        duration=ends_at - starts_at,
        bounded="COUNT" in parts or "UNTIL" in parts,
        start=series_start,
        freq=parts["FREQ"],
        interval=int(parts.get("INTERVAL", "1")),
        wkst=_WEEKDAYS.index(parts.get("WKST", "MO")),
        counted="COUNT" in parts,
        explicit_text=_explicit(parts, series_start),
        per_day=per_day,
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
