"""Debug work off the event loop: `/debug/explain` translates the caller and every
callee, and the dashboard's `/debug/graph` every proxy of a new configuration — seconds
on a large mesh — while the loop they would run on also serves every xDS stream. So
that work runs in one worker thread, one job at a time, each awaited for a bounded time.

The worker never touches the runtime's translator (its memo is not thread-safe and the
loop keeps using it): it keeps a translator of its own, carried from generation to
generation like the runtime's (`MeshTranslator(mesh, previous)`: only what changed is
rebuilt), over the very same immutable MeshConfig and extensions. Translation is
deterministic, so it produces the bytes the proxies receive.

A thread cannot be stopped: a job over its time keeps running and its work (the
translated proxies) stays in the worker's translator, so asking again is quick. While
it runs, other requests wait for the worker within their own bound."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

from translators.translate import MeshTranslator
from xdscp.errors import XdscpError

_log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 20.0


class WorkerTimeout(XdscpError):
    """The worker did not answer within the bound (the message says what to do)."""


def _same(a: MeshTranslator, b: MeshTranslator) -> bool:
    """Do two translators run the same extensions (the very same objects)?"""
    return tuple(map(id, a.extensions.extensions)) == tuple(map(id, b.extensions.extensions))


class DebugWorker:
    """Runs `fn(translator)` in a daemon thread with the worker's own translator of the
    current generation, one call at a time, each awaited for at most `timeout_s`."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._idle: asyncio.Semaphore | None = None  # made on the serving loop
        self._own: MeshTranslator | None = None  # only the worker thread touches it

    def _translator_for(self, current: MeshTranslator) -> MeshTranslator:
        """The worker's translator of `current`'s generation (worker thread only)."""
        own = self._own
        if own is None or own.mesh is not current.mesh or not _same(own, current):
            # the previous generation's pieces carry over only with the same extensions
            # (compared by their members: a translator without any makes an empty set
            # of its own every generation)
            reuse = own if own is not None and _same(own, current) else None
            own = self._own = MeshTranslator(current.mesh, reuse, current.extensions)
        return own

    async def run(
        self,
        current: MeshTranslator,
        fn: Callable[[MeshTranslator], T],
        timeout_s: float | None = None,
    ) -> T:
        """`fn`'s result; raises WorkerTimeout past the bound (`timeout_s`, else the
        worker's), or what `fn` raised."""
        bound = self.timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        if self._idle is None:
            self._idle = asyncio.Semaphore(1)
        idle = self._idle
        deadline = loop.time() + bound
        try:
            await asyncio.wait_for(idle.acquire(), bound)
        except TimeoutError:
            raise WorkerTimeout(
                f"the worker is still busy (an earlier explanation, or the dashboard's"
                f" graph of a new configuration) after {bound:g} s; try again in a moment"
            ) from None
        done: asyncio.Future[T] = loop.create_future()
        # a request that gave up never reads the outcome: mark it read (no asyncio warning)
        done.add_done_callback(lambda f: f.cancelled() or f.exception())

        def settle(outcome: tuple[T] | BaseException) -> None:
            idle.release()
            if done.cancelled():
                return
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome[0])

        def work() -> None:
            outcome: tuple[T] | BaseException
            try:
                outcome = (fn(self._translator_for(current)),)
            except BaseException as exc:  # handed to the awaiting request
                outcome = exc
            # RuntimeError: the loop closed meanwhile (shutdown), nobody waits
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=work, name="xdscp-explain", daemon=True).start()
        remaining = max(0.0, deadline - loop.time())
        try:
            return await asyncio.wait_for(asyncio.shield(done), remaining)
        except TimeoutError:
            _log.warning("debug.explain_timeout", seconds=bound)
            raise WorkerTimeout(
                f"the explanation did not finish within {bound:g} s (a large mesh:"
                " the first explanation of a proxy translates it); it goes on in the"
                " background, so asking again soon is quicker"
            ) from None
