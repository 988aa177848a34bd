"""RFC 5545 recurrence rules: validation and occurrence expansion, pure functions on datetimes."""

from __future__ import annotations

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
                if start not in excluded:
                    last = start
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, RecurrenceError):
                raise
            raise RecurrenceError("the rule runs past the year 9999") from exc
        if last is None:
            raise RecurrenceError("every occurrence of the rule is excluded")
        return last + self.duration


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
    parts = dict(part.partition("=")[::2] for part in text.split(";") if part)
    if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
        raise RecurrenceError(f"FREQ must be one of {', '.join(sorted(ALLOWED_FREQUENCIES))}")
    if "BYEASTER" in parts:
        raise RecurrenceError("BYEASTER is not part of RFC 5545")
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
    try:
        synchronized = series.contains(starts_at)
    except (ValueError, OverflowError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from exc
    if not synchronized:
        raise RecurrenceError("starts_at must itself be an occurrence of the rule")
    return series
