"""Errors a user can fix (a busy port, an exposed debug port, a bad token file).

Library code raises these instead of click exceptions so it stays usable outside
the CLI; `xdscp.cli_errors` prints them as one line with a non-zero exit. Every
deliberate error of every package derives from `XdscpError` (README, "Errors").
`str(err)` is the whole message: what is wrong, then what to do.
"""

from __future__ import annotations

from ca.xdscp_error import XdscpError as XdscpError

__all__ = ["AddressUnavailable", "UserError", "XdscpError"]


class UserError(XdscpError):
    """A mistake in the input or the environment, explained in one line.

    `problem` says what is wrong, `hint` what to do about it (may be empty).
    """

    def __init__(self, problem: str, hint: str = "") -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem}; {hint}" if hint else problem)


class AddressUnavailable(UserError):
    """A listener could not bind: the port is taken or the address is not on this host."""

    def __init__(self, what: str, address: str, reason: str, flag: str) -> None:
        self.address = address
        super().__init__(
            f"cannot listen on {address} for {what}: {reason}",
            f"stop whatever holds it or pass another {flag} (port 0 picks a free one)",
        )
