"""structlog configuration, done once by the CLI (libraries only get loggers)."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

import structlog


def configure_logging(json_logs: bool = False, level: str = "info") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: a module-level logger bound once would keep the first configuration
        # for good, so a later reconfiguration (an embedding program, a test capturing
        # logs) would silently miss it. Binding per call costs microseconds, off hot paths.
        cache_logger_on_first_use=False,
    )


def debug_enabled() -> bool:
    """Whether debug events are emitted under the configuration in force now.

    For the server's per-push and per-ACK events (two per proxy per change): a module
    logger binds itself on every call (see above), about 10 µs even for a filtered-out
    debug event, which at a thousand proxies is tens of milliseconds of a push. This
    check reads the configured wrapper class (well under a microsecond), so a later
    reconfiguration still takes effect at once."""
    return _wrapper_logs_debug(structlog.get_config()["wrapper_class"])


@functools.cache
def _wrapper_logs_debug(wrapper: type[Any]) -> bool:
    try:
        # a filtering wrapper knows its level without a logger behind it
        return bool(wrapper(None, [], {}).is_enabled_for(logging.DEBUG))
    except Exception:  # a wrapper that must see its logger: assume it logs everything
        return True
