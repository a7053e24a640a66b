"""Time as the CA sees it: always timezone-aware UTC, always injectable.

Certificate validity and rotation are pure functions of "now"; taking it as an
argument (or a `Clock`) is what lets tests use second-long TTLs without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "as_utc", "utc_now"]

Clock = Callable[[], datetime]
"""A zero-argument function returning the current time (timezone-aware)."""


def utc_now() -> datetime:
    """The default `Clock`: the system's current time in UTC."""
    return datetime.now(UTC)


def as_utc(when: datetime | None, clock: Clock = utc_now) -> datetime:
    """`when` (or the clock's now) normalised to UTC.

    Naive datetimes are refused: comparing them with certificate times (which
    are UTC) would silently be off by the host's UTC offset.
    """
    value = clock() if when is None else when
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    return value.astimezone(UTC)
