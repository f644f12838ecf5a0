"""Harbor's storage quota decision, pure: would a push go over the project's limit, what Harbor says
when it does, and whether usage after a push is high enough to warn (src/pkg/quota in Harbor)."""

from __future__ import annotations

from dataclasses import dataclass

#: a hard limit of -1 means no limit
UNLIMITED = -1
#: Harbor warns when usage reaches this share of the hard limit (RequestMiddleware's default)
WARNING_PERCENT = 85


def format_size(value: int) -> str:
    """Harbor's byteCountToDisplaySize: `N B` below 1 KiB, else one decimal and a 1024-based unit."""
    unit = 1024
    if value < unit:
        return f"{value} B"
    div, exp = unit, 0
    n = value // unit
    while n >= unit:
        div *= unit
        exp += 1
        n //= unit
    return f"{value / div:.1f} {'KMGTPE'[exp]}iB"


def overflow_message(hard: int, used: int, new_used: int) -> str:
    """Harbor's ResourceOverflow text (src/pkg/quota/errors.go), "subtracting" included for a shrink."""
    op, delta = ("adding", new_used - used) if new_used > used else ("subtracting", used - new_used)
    return (
        f"{op} {format_size(delta)} of storage resource, which when updated to current usage of "
        f"{format_size(used)} will exceed the configured upper limit of {format_size(hard)}."
    )


def warning_message(hard: int, used: int, percent: int = WARNING_PERCENT) -> str:
    """The message of Harbor's QUOTA_WARNING event (src/server/middleware/quota/quota.go)."""
    return f"quota usage reach {percent}%: resource storage used {format_size(used)} of {format_size(hard)}"


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    """What a request asking for `delta` more bytes gets: refused (with Harbor's message) or allowed,
    and the usage it leaves behind with Harbor's warning when that is at or above 85% of the limit."""

    allowed: bool
    used: int
    message: str = ""
    warning: str | None = None


def decide(hard: int, used: int, delta: int, *, enforced: bool = True) -> QuotaDecision:
    """Harbor's reserveResources + IsSafe + GetWarningResources for the `storage` resource.

    A request asks for `delta` bytes (0 still asks: a plain upload start is refused when usage is
    already over the limit). Refused when a limit is set and used + delta > hard. After an allowed
    request Harbor warns whenever usage is >= 85% of the limit, on every such request, not only when
    crossing the line. `enforced=False` (quota_per_project_enable off) allows everything, silently.
    """
    new_used = used + delta
    if not enforced or hard == UNLIMITED:
        return QuotaDecision(True, new_used)
    if new_used > hard:
        return QuotaDecision(False, used, overflow_message(hard, used, new_used))
    warning = warning_message(hard, new_used) if new_used * 100 >= hard * WARNING_PERCENT else None
    return QuotaDecision(True, new_used, warning=warning)
