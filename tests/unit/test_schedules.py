"""Harbor's schedule types and cron rules, and firing once after downtime."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from berth.schedules import ScheduleInvalid, due_tick, next_tick, parse_schedule, validate_cron


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def test_types_and_presets():
    assert parse_schedule("Daily", None).cron == "0 0 0 * * *"
    assert parse_schedule("Hourly", "").cron == "0 0 * * * *"
    assert parse_schedule("Weekly", None).cron == "0 0 0 * * 0"
    assert parse_schedule("Custom", "0 30 2 * * *").cron == "0 30 2 * * *"
    assert parse_schedule("Manual", "whatever").cron is None and parse_schedule("None", None).cron is None


@pytest.mark.parametrize("cron,message", [
    ("", "empty cron string is invalid"),
    ("5 0 2 * * *", "the 1st field (indicating Seconds of time) of the cron setting must be 0"),
    ("0 2 * * *", "six fields"),
    ("0 61 2 * * *", "six fields"),
    ("0 0 2 * * * *", "six fields"),
    ("0 0 2 * * mon-fri-sat", "six fields"),
])
def test_bad_cron_strings_get_harbors_messages(cron, message):
    with pytest.raises(ScheduleInvalid, match=message.split(" (")[0]):
        validate_cron(cron)


def test_unknown_types_and_custom_without_cron_are_refused():
    with pytest.raises(ScheduleInvalid):
        parse_schedule("Fortnightly", "0 0 0 * * *")
    with pytest.raises(ScheduleInvalid):
        parse_schedule("Custom", None)


def test_the_next_tick_and_the_one_due_after_downtime():
    daily = "0 0 2 * * *"
    assert next_tick(daily, at(1, 1)) == at(1, 2)
    assert next_tick(daily, at(1, 2)) == at(2, 2)
    assert due_tick(daily, at(1, 2), at(1, 12)) is None  # already fired today
    assert due_tick(daily, at(1, 2), at(2, 2)) == at(2, 2)  # exactly on the tick
    # down from the 1st to the 5th: one firing, for the latest missed tick
    assert due_tick(daily, at(1, 2), at(5, 9)) == at(5, 2)
    assert due_tick(daily, at(5, 2), at(5, 9)) is None
    assert due_tick(daily, None, at(5, 1)) == at(4, 2)  # never fired: the latest tick is due
    naive = datetime(2026, 3, 5, 9)
    assert due_tick(daily, None, naive) == at(5, 2)


def test_a_cron_that_never_fires_or_is_too_long_is_refused() -> None:
    with pytest.raises(ScheduleInvalid, match="never fires"):
        validate_cron("0 0 0 30 2 *")
    with pytest.raises(ScheduleInvalid, match="longer than"):
        validate_cron("0 " + ",".join(str(m) for m in range(60)) + " * * * *" + "")
