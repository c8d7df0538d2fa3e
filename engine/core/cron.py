"""Cron expressions in an IANA time zone: next fire times (pure functions, no database).

Cron expressions are matched against the *local wall clock* of the schedule's time zone, then
turned into UTC instants:

- a wall time that does not exist (the skipped hour when clocks go forward) fires once, at the
  first valid local time after it (the moment the clocks jumped);
- a wall time that happens twice (the repeated hour when clocks go back) fires once, at its
  first occurrence.

Slots that map to the same instant fire once.
"""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

UTC = timezone.utc
_MAX_STEPS = 5000  # bound on cron iterations (a never-matching expression must not spin)


class ScheduleError(ValueError):
    """The cron expression or the time zone cannot be used."""


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo((name or "UTC").strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ScheduleError(f"Unknown time zone '{name}'.") from None


def _wall_time_exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def wall_time_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: its first occurrence, or the end of the gap it falls in."""
    candidate = naive
    while not _wall_time_exists(candidate, tz):  # inside a gap: walk to the first valid minute
        candidate = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return candidate.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _cron(expression: str, start: datetime) -> croniter:
    if not isinstance(expression, str) or len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"Invalid cron expression {expression!r}.")
    return croniter(expression, start)


def next_fire_after(expression: str, tz_name: str | None, after: datetime) -> datetime | None:
    """The first fire instant (UTC) strictly after `after`, or None when the expression never matches again."""
    tz = zone(tz_name)
    after = after.astimezone(UTC)
    local_start = after.astimezone(tz).replace(tzinfo=None)
    # Start an hour earlier in wall-clock time: after a fall-back, the wall clock reads less than
    # a slot that is still ahead in real time; the loop skips anything not after `after`.
    iterator = _cron(expression, local_start - timedelta(hours=1))
    for _ in range(_MAX_STEPS):
        try:
            naive = iterator.get_next(datetime)
        except (CroniterError, StopIteration):
            return None
        instant = wall_time_to_utc(naive, tz)
        if instant > after:
            return instant
    return None


def next_fire_times(expression: str, tz_name: str | None, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` distinct fire instants (UTC) after `after`."""
    times: list[datetime] = []
    cursor = after
    while len(times) < count:
        following = next_fire_after(expression, tz_name, cursor)
        if following is None:
            break
        times.append(following)
        cursor = following
    return times


def count_missed(expression: str, tz_name: str | None, slot: datetime, now: datetime, limit: int = 1000) -> int:
    """How many further slots after `slot` passed by `now` (capped at `limit`): they are folded into this one run."""
    missed = 0
    cursor = slot
    while missed < limit:
        following = next_fire_after(expression, tz_name, cursor)
        if following is None or following > now:
            break
        missed += 1
        cursor = following
    return missed
