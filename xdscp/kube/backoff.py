"""Exponential backoff with jitter, so replicas that lost the API server together do
not come back in lock-step (client-go's reflector does the same)."""

from __future__ import annotations

import asyncio
import contextlib
import random


class Backoff:
    def __init__(self, initial: float = 0.8, maximum: float = 30.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> bool:
    """Sleep `delay` seconds unless `stop` is set first; True if stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
    return stop.is_set()


async def wait_either(
    first: asyncio.Event, second: asyncio.Event, timeout: float | None = None
) -> None:
    """Return once either event is set or `timeout` seconds have passed (None: no
    timeout); the events are left as they are, the waiting tasks are always cancelled."""
    waits = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
