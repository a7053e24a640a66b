"""The CA's exception tree.

Every error names *what* is wrong and, when the problem is CA material on disk,
*which file*: an operator who plugged in the wrong intermediate at 3 a.m. must
be able to fix it from the message alone. The CA never "repairs" bad material
by regenerating it (a new root would silently break every existing identity),
so these errors are the only way such problems surface.

::

    XdscpError                 (ca.xdscp_error) the root of every package's errors
    └── CAError                base; .problem (str) and .path (Path | None)
        ├── CAFileError            missing, unreadable, corrupt or unexpected file content
        ├── CAKeyMismatch          the private key does not belong to the certificate
        ├── CAChainError           not a CA, or does not chain to the trusted root(s)
        ├── CAExpired              a CA certificate is outside its validity window
        ├── InvalidSpiffeID        a malformed or foreign-trust-domain SPIFFE ID (also ValueError)
        └── SVIDVerificationError  a presented certificate chain is not a valid SVID
"""

from __future__ import annotations

import os
from pathlib import Path

from ca.xdscp_error import XdscpError

__all__ = [
    "CAChainError",
    "CAError",
    "CAExpired",
    "CAFileError",
    "CAKeyMismatch",
    "InvalidSpiffeID",
    "SVIDVerificationError",
]


class CAError(XdscpError):
    """Base of every error raised by `ca`.

    `problem` is the human sentence; `path` is the file it concerns, if any.
    `str(err)` is `"<path>: <problem>"` so it can be logged as is.
    """

    def __init__(self, problem: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class CAFileError(CAError):
    """A CA file is missing, unreadable, not valid PEM, or holds the wrong kind of object."""


class CAKeyMismatch(CAError):
    """A private key file does not match the certificate it is stored next to."""


class CAChainError(CAError):
    """A CA certificate is not a CA, or does not chain to the trusted root(s)."""


class CAExpired(CAError):
    """A CA certificate is expired or not yet valid.

    Raised at load time rather than letting the CA issue SVIDs that no peer
    would accept.
    """


class InvalidSpiffeID(CAError, ValueError):
    """A SPIFFE ID is malformed, or belongs to a trust domain this CA does not serve."""


class SVIDVerificationError(CAError):
    """A presented certificate chain is not a valid X.509 SVID for the trust bundle.

    The xDS server maps this to an authentication failure for the connecting proxy.
    """
