"""Operator-facing HTTP: `/debug/*` introspection and Prometheus `/metrics`."""

from xdscp.debug.http import make_debug_app, start_debug_server

__all__ = ["make_debug_app", "start_debug_server"]
