"""`XdscpError`: the root of every exception xdscp raises on purpose.

It lives here, in the lowest layer, because every package's errors derive from it and
`ca` imports neither `translators` nor `xdscp` (DESIGN §2); this module imports
nothing, so `translators` may import it as it imports `ca.spiffe`. Read it as
`xdscp.errors.XdscpError` or `translators.errors.XdscpError` (the same class).

The whole tree, with where each error is mapped for the outside world, is in the
README ("Errors"). Exceptions outside it are internal signals that never leave
their module, or bugs.
"""

from __future__ import annotations

__all__ = ["XdscpError"]


class XdscpError(Exception):
    """Something xdscp detected and explains: bad input, an unusable environment, a
    refused proxy, an unreachable API server. `except XdscpError` catches every
    deliberate failure and nothing that is a bug."""
