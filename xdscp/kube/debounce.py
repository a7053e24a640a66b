"""Coalescing bursts of cluster events into one mesh rebuild (DESIGN §1: ~100 ms quiet,
~1 s max): a rolling deployment touches Pods and EndpointSlices dozens of times a
second, and every rebuild re-translates every connected proxy."""

from __future__ import annotations

import asyncio

from xdscp.kube.backoff import sleep_or_stop, wait_either


class Debouncer:
    def __init__(self, quiet: float = 0.1, max_wait: float = 1.0) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self._poked = asyncio.Event()
        self._first = 0.0
        self._last = 0.0

    def poke(self) -> bool:
        """Note an event; True when it is a burst's first (nothing pending before it)."""
        now = asyncio.get_running_loop().time()
        first = not self._poked.is_set()
        if first:
            self._first = now
            self._poked.set()
        self._last = now
        return first

    async def wait(self, stop: asyncio.Event) -> bool:
        """Return True once a burst has settled (quiet for `quiet`, or `max_wait` after
        its first event); False when `stop` is set first."""
        await wait_either(stop, self._poked)
        if stop.is_set():
            return False
        loop = asyncio.get_running_loop()
        while True:
            deadline = min(self._last + self.quiet, self._first + self.max_wait)
            delay = deadline - loop.time()
            if delay <= 0:
                break
            if await sleep_or_stop(stop, delay):
                return False
        self._poked.clear()
        return True
