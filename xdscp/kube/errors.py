"""The Kubernetes exception tree: API errors mapped once, at the client boundary.

Callers react to *meaning* (gone: re-list; conflict: re-read and retry; not found:
the object is gone) rather than to HTTP codes scattered through the code.
"""

from __future__ import annotations

from typing import Any

from xdscp.errors import XdscpError


class KubeError(XdscpError):
    """An API call failed. `status` is the HTTP code (0 for transport failures)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeUnavailable(KubeError):
    """The API server could not be reached or dropped the connection: retry with backoff."""


class NotFound(KubeError):
    """404: the object (or the resource type: CRD not installed) does not exist."""


class Conflict(KubeError):
    """409: a resourceVersion precondition failed (someone else wrote first), or the
    object already exists (`reason == "AlreadyExists"`): re-read, then decide."""


class Gone(KubeError):
    """410: the resourceVersion is too old (compacted) or a continue token expired:
    the only recovery is a fresh list."""


class Forbidden(KubeError):
    """401/403: RBAC or credentials; retrying will not help until someone fixes them."""


def error_from_status(status: int, body: Any, fallback: str = "") -> KubeError:
    """Map an HTTP status and a `Status` object (or anything) to the exception tree."""
    reason = ""
    message = fallback or f"HTTP {status}"
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or message)
    cls: type[KubeError] = KubeError
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 410:
        cls = Gone
    elif status in (401, 403):
        cls = Forbidden
    elif status >= 500 or status == 429:
        cls = KubeUnavailable
    return cls(message, status, reason)
