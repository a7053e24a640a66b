"""Log volume bounded per proxy: a repeated error is logged once per change, not per request.

A proxy (broken or hostile) can send the same NACK or the same malformed request
thousands of times a second; logging each would write hundreds of MB. Each kind of
message is keyed (e.g. proxy + type URL) and remembers the fingerprint it last logged:
a new fingerprint (the error changed) is logged at once, the same one again at most
once per `interval`, carrying how many repeats were suppressed meanwhile.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class _Entry:
    __slots__ = ("fingerprint", "logged_at", "suppressed")

    def __init__(self, fingerprint: Hashable, now: float) -> None:
        self.fingerprint = fingerprint
        self.logged_at = now
        self.suppressed = 0


class LogLimiter:
    """Bounded (LRU over keys) memory of what was logged; one event loop, no locking."""

    __slots__ = ("_clock", "_entries", "interval", "max_keys")

    def __init__(
        self,
        interval: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def admit(self, key: Hashable, fingerprint: Hashable = None) -> int | None:
        """None: do not log. Otherwise log, adding the returned number of repeats that
        were suppressed since the last line for this key (0 for a new message)."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or entry.fingerprint != fingerprint:
            self._entries[key] = _Entry(fingerprint, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
            return 0
        if now - entry.logged_at >= self.interval:
            repeats, entry.suppressed, entry.logged_at = entry.suppressed, 0, now
            return repeats
        entry.suppressed += 1
        return None

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [truncated, {len(text):,} characters in all]"
