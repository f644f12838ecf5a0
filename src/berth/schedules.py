"""Harbor's schedules: the types (Hourly, Daily, Weekly, Custom, Manual, None) and 6-field cron
strings with seconds first (`0 0 2 * * *`), validated as Harbor validates them
(src/common/utils/utils.go ValidateCronString), and the one tick that is due after downtime.

Pure; the job scheduler (issue 5) builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter

SCHEDULE_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None")
#: the cron strings Harbor's UI sends for the preset types
#: as long as the schedules table's column
MAX_CRON_LENGTH = 128
PRESETS = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}


class ScheduleInvalid(ValueError):
    """The message is Harbor's, for a 400."""


@dataclass(frozen=True, slots=True)
class Schedule:
    type: str
    #: None for Manual and None schedules, which never fire on their own
    cron: str | None


def validate_cron(cron: str) -> None:
    """Six fields, seconds first, and the seconds fixed at 0: Harbor's rules."""
    if not cron:
        raise ScheduleInvalid("empty cron string is invalid")
    fields = cron.split(" ")
    if len(fields) != 6 or not croniter.is_valid(cron, second_at_beginning=True):
        raise ScheduleInvalid(f"invalid cron string {cron[:100]!r}: six fields, seconds first (e.g. 0 0 2 * * *)")
    if fields[0] != "0":
        raise ScheduleInvalid("the 1st field (indicating Seconds of time) of the cron setting must be 0")
    if len(cron) > MAX_CRON_LENGTH:
        raise ScheduleInvalid(f"the cron string is longer than {MAX_CRON_LENGTH} characters")
    try:  # a valid string can still name no time at all (February 30th)
        next_tick(cron, datetime.now(UTC))
    except (CroniterBadDateError, ValueError):
        raise ScheduleInvalid(f"the cron string {cron!r} never fires") from None


def parse_schedule(kind: str, cron: str | None) -> Schedule:
    """A schedule from Harbor's `{"type", "cron"}`; preset types may leave the cron to Harbor's default."""
    if kind not in SCHEDULE_TYPES:
        raise ScheduleInvalid(f"invalid schedule type {kind[:50]!r}: one of {', '.join(SCHEDULE_TYPES)}")
    if kind in ("Manual", "None"):
        return Schedule(kind, None)
    cron = cron or PRESETS.get(kind, "")
    validate_cron(cron)
    return Schedule(kind, cron)


def next_tick(cron: str, after: datetime) -> datetime:
    """The first tick strictly after `after` (UTC)."""
    return croniter(cron, _utc(after), second_at_beginning=True).get_next(datetime)


def due_tick(cron: str, last_fired: datetime | None, now: datetime) -> datetime | None:
    """The tick to fire now, or None: the latest tick in (last_fired, now]. After downtime that spans
    several ticks, only the latest is due, so a missed schedule fires once, not once per tick."""
    latest = croniter(cron, _utc(now), second_at_beginning=True).get_prev(datetime)
    if next_tick(cron, latest) <= _utc(now):  # `now` is itself a tick
        latest = next_tick(cron, latest)
    if last_fired is not None and latest <= _utc(last_fired):
        return None
    return latest


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
