"""Harbor's quota decision and size formatting (berth.quotas), without a server."""

from __future__ import annotations

import pytest

from berth.quotas import decide, format_size, overflow_message, warning_message


@pytest.mark.parametrize("value,text", [
    (0, "0 B"),
    (100, "100 B"),
    (1023, "1023 B"),
    (1024, "1.0 KiB"),
    (1024 * 3 // 2, "1.5 KiB"),
    (1024 * 1024 - 1, "1024.0 KiB"),  # Go's %.1f rounds up too
    (1024 * 1024, "1.0 MiB"),
    (1024 * 1024 * 3 // 2, "1.5 MiB"),
    (1024**3, "1.0 GiB"),
    (1024**3 * 3 // 2, "1.5 GiB"),
    (1024**4, "1.0 TiB"),
    (1024**4 * 3 // 2, "1.5 TiB"),
    (1024**5, "1.0 PiB"),
    (1024**6, "1.0 EiB"),
])
def test_sizes_are_formatted_as_harbor_does(value, text):
    assert format_size(value) == text


def test_a_request_that_fits_is_allowed_and_counted():
    decision = decide(hard=1000, used=100, delta=500)
    assert decision.allowed and decision.used == 600 and decision.warning is None and decision.message == ""


def test_exactly_reaching_the_limit_is_allowed():
    assert decide(hard=1000, used=400, delta=600).allowed


def test_going_over_the_limit_is_refused_with_harbors_message():
    decision = decide(hard=10 * 1024, used=9 * 1024, delta=2048)
    assert not decision.allowed and decision.used == 9 * 1024
    assert decision.message == (
        "adding 2.0 KiB of storage resource, which when updated to current usage of 9.0 KiB "
        "will exceed the configured upper limit of 10.0 KiB."
    )


def test_an_upload_start_asks_for_nothing_but_is_refused_when_already_over():
    # the limit was lowered below what the project holds: Harbor's wording says "subtracting 0 B"
    decision = decide(hard=100, used=150, delta=0)
    assert not decision.allowed
    assert decision.message == overflow_message(100, 150, 150) == (
        "subtracting 0 B of storage resource, which when updated to current usage of 150 B "
        "will exceed the configured upper limit of 100 B."
    )
    assert decide(hard=150, used=150, delta=0).allowed


def test_unlimited_and_disabled_quotas_allow_everything_without_warning():
    assert decide(hard=-1, used=10**15, delta=10**15).allowed
    off = decide(hard=10, used=5, delta=100, enforced=False)
    assert off.allowed and off.used == 105 and off.warning is None


def test_warning_at_85_percent_and_above_on_every_request():
    assert decide(hard=1000, used=0, delta=849).warning is None
    assert decide(hard=1000, used=0, delta=850).warning == warning_message(1000, 850)
    # already above: Harbor warns again on each request that asks for resources, 0 bytes included
    assert decide(hard=1000, used=900, delta=0).warning == "quota usage reach 85%: resource storage used 900 B of 1000 B"
    assert decide(hard=1024**3, used=0, delta=1024**3).warning == (
        "quota usage reach 85%: resource storage used 1.0 GiB of 1.0 GiB"
    )
