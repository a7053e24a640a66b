"""The :path Envoy routes on and hands its HTTP filters (RBAC, jwt_authn): what the
HttpConnectionManager's `normalize_path` and `merge_slashes` make of the path a client
sent, before anything else looks at it (Envoy's ConnectionManagerUtility::maybeNormalizePath).

`normalize_path` (Envoy's PathTransformer::rfcNormalize, a URL path canonicalizer) on the
part before `?` (the query is never touched):

* a percent-escape of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded
  (`%61` -> `a`, `%2e` -> `.`); other escapes stay as sent, case included (`%2f`, `%20`);
* `\\` is a `/`; `" < > ` { } | ^` are escaped (`{` -> `%7B`);
* dot segments are removed as RFC 3986 §5.2.4 says (`/a/../b` -> `/b`, `/a/./b` ->
  `/a/b`, `/a/b/..` -> `/a/`, never above the root), `%2e` forms included; `...` is a name;
* a control character, a space, `#`, a non-ASCII character or `%00` makes Envoy answer
  400 (`None` here).

`merge_slashes`, after it: runs of `/` become one (`//b` -> `/b`), the leading and
trailing slash kept. Checked against real Envoy by tests/explain/test_path_envoy.py.
"""

from __future__ import annotations

import string

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from translators.behaviour.routing import Unsupported

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_HEX = frozenset(string.hexdigits)
_ESCAPED = frozenset('"<>`{}|^')
_KEPT_ESCAPED_SLASHES = (
    hcm_pb2.HttpConnectionManager.IMPLEMENTATION_SPECIFIC_DEFAULT,
    hcm_pb2.HttpConnectionManager.KEEP_UNCHANGED,
)


def _canonical_characters(path: str) -> str | None:
    out: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char == "%" and i + 2 < len(path) and set(path[i + 1 : i + 3]) <= _HEX:
            decoded = chr(int(path[i + 1 : i + 3], 16))
            if decoded == "\0":
                return None
            out.append(decoded if decoded in _UNRESERVED else path[i : i + 3])
            i += 3
            continue
        if char == "\\":
            char = "/"
        elif char in _ESCAPED:
            char = f"%{ord(char):02X}"
        elif char in " #" or not (0x20 < ord(char) < 0x7F):
            return None
        out.append(char)
        i += 1
    return "".join(out)


def _without_dot_segments(path: str) -> str:
    segments: list[str] = []
    parts = path.split("/")[1:]
    for k, segment in enumerate(parts):
        last = k == len(parts) - 1
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
            continue
        if last:  # `/a/..` and `/a/.` name the directory: `/` and `/a/`
            segments.append("")
    return "/" + "/".join(segments)


def rfc_normalized(path: str) -> str | None:
    """`path` as `normalize_path: true` leaves it; None: Envoy rejects it (400)."""
    raw, question, query = path.partition("?")
    canonical = _canonical_characters(raw)
    if canonical is None:
        return None
    if canonical.startswith("/"):
        canonical = _without_dot_segments(canonical)
    return canonical + question + query


def merged_slashes(path: str) -> str:
    """`path` as `merge_slashes: true` leaves it."""
    raw, question, query = path.partition("?")
    if "//" not in raw:
        return path
    inner = "/".join(s for s in raw.split("/") if s)
    prefix = "/" if raw.startswith("/") else ""
    suffix = "/" if raw.endswith("/") else ""
    return prefix + inner + suffix + question + query


def chain_manager(
    chain: listener_components_pb2.FilterChain,
) -> hcm_pb2.HttpConnectionManager | None:
    """The HttpConnectionManager of a filter chain (None: a TCP chain)."""
    for network_filter in chain.filters:
        if network_filter.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
            manager = hcm_pb2.HttpConnectionManager()
            network_filter.typed_config.Unpack(manager)
            return manager
    return None


def listener_manager(listener: listener_pb2.Listener) -> hcm_pb2.HttpConnectionManager | None:
    """The HttpConnectionManager of the listener's first HTTP chain."""
    for chain in listener.filter_chains:
        manager = chain_manager(chain)
        if manager is not None:
            return manager
    return None


def envoy_path(manager: hcm_pb2.HttpConnectionManager | None, path: str) -> str | None:
    """The :path the routes and HTTP filters of `manager` see for a request sent with
    `path`; None when Envoy answers 400 instead. Raises Unsupported for an escaped-slash
    action other than keeping them (xdscp never sets one)."""
    if manager is None:
        return path
    if manager.path_with_escaped_slashes_action not in _KEPT_ESCAPED_SLASHES:
        raise Unsupported("path_with_escaped_slashes_action")
    found: str | None = path
    if manager.normalize_path.value:
        found = rfc_normalized(path)
    if found is not None and manager.merge_slashes:
        found = merged_slashes(found)
    return found


__all__ = [
    "chain_manager",
    "envoy_path",
    "listener_manager",
    "merged_slashes",
    "rfc_normalized",
]
