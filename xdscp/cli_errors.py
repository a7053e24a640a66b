"""The one place where known user errors become a one-line message and an exit code.

Every `xdscp` command runs inside `HygienicGroup.invoke`, so a new command gets this
for free once it is added with `main.add_command(...)`:

* an exception that `user_error_message` recognises (anywhere in its `__cause__` /
  `__context__` chain) is printed as ``Error: <what is wrong>; <what to do>`` on
  stderr, exit code 1, no traceback;
* Ctrl-C that reaches the command (before a signal handler of its own is installed,
  or in a command without one) prints ``interrupted`` and exits 130;
* anything else is a bug and keeps its traceback.

To make an error of your own module one-line, either raise `xdscp.errors.UserError`
(``UserError("what is wrong", "what to do")``), or register the exception type once
at import time of your CLI module::

    register_user_error(MyApiError, lambda exc: f"cannot reach {exc.url}: {exc.reason}")

A formatter returns the message, or None to say "not a user error after all".
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ca.errors import CAError
from xdscp.errors import UserError

__all__ = ["HygienicGroup", "register_user_error", "user_error_message"]

INTERRUPTED_EXIT_CODE = 130

_E = TypeVar("_E", bound=BaseException)
Formatter = Callable[[Any], "str | None"]

_formatters: list[tuple[type[BaseException], Formatter]] = []


def register_user_error(exc_type: type[_E], formatter: Callable[[_E], str | None] = str) -> None:
    """Print `exc_type` (and subclasses) as one line made by `formatter`; the newest
    registration of a matching type wins."""
    _formatters.insert(0, (exc_type, formatter))


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for `exc` if it (or an exception it was raised from) is a
    known user error, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BaseExceptionGroup):  # asyncio.TaskGroup failures
            for inner in current.exceptions:
                message = user_error_message(inner)
                if message:
                    return message
        for exc_type, formatter in _formatters:
            if isinstance(current, exc_type):
                message = formatter(current)
                if message:
                    return message
        current = current.__cause__ or current.__context__
    return None


class HygienicGroup(click.Group):
    """A click group whose commands never show a traceback for a user error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT_CODE) from None
        except Exception as exc:
            message = user_error_message(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


# --- what the core knows to be user errors ------------------------------------------

_ADDRESS_ERRNOS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}
_FILE_HINTS = {
    errno.ENOSPC: "free some space or point it at another disk",
    errno.EDQUOT: "free some space or point it at another disk",
    errno.EROFS: "point it at a writable directory",
    errno.EACCES: "check the permissions or point it at another directory",
    errno.EPERM: "check the permissions or point it at another directory",
    errno.ENOTDIR: "a file is in the way of the directory: move it or choose another path",
    errno.EISDIR: "a directory is in the way of the file: choose another path",
    errno.ENOENT: "check the path",
    errno.EFBIG: "the file size limit was reached: free space or raise the limit",
}


def _os_error(exc: OSError) -> str | None:
    if exc.errno in _ADDRESS_ERRNOS and exc.filename is None:
        return f"cannot listen: {exc.strerror or exc}; stop whatever holds the port or pick another"
    if exc.filename is None or exc.errno not in _FILE_HINTS:
        return None
    return f"{exc.filename}: {exc.strerror}; {_FILE_HINTS[exc.errno]}"


def _ca_error(exc: CAError) -> str:
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno in _FILE_HINTS:
        return f"{exc}; {_FILE_HINTS[cause.errno]}"  # the disk, not the CA material
    return f"{exc}; fix or move the file, or point --ca-dir/--cacerts elsewhere"


def _kube_config_error(exc: Exception) -> str | None:
    """kubernetes_asyncio's ConfigException, recognized by its class's name and module:
    importing the client to compare classes would add most of a second to the start of
    every command (`serve` included), Kubernetes or not."""
    if not any(
        cls.__name__ == "ConfigException" and cls.__module__.startswith("kubernetes_asyncio.")
        for cls in type(exc).__mro__
    ):
        return None
    return (
        f"cannot load a Kubernetes configuration: {exc}; pass --kubeconfig FILE, set "
        "KUBECONFIG, or run inside a cluster"
    )


def _register_core() -> None:
    register_user_error(OSError, _os_error)
    register_user_error(CAError, _ca_error)
    register_user_error(UserError)
    from xdscp.local.envoy_process import EnvoyNotFound

    register_user_error(EnvoyNotFound)
    register_user_error(Exception, _kube_config_error)


_register_core()
