"""The request `explain` follows: parsed from what a user types (`-X`, `-H`, a URL)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from translators.errors import TranslatorError


class ExplainError(TranslatorError, ValueError):
    """A question explain cannot answer (unknown workload, host, port, bad URL): its
    message is one line saying what is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class ExplainRequest:
    source: str  # `namespace/name` of the calling workload
    protocol: str  # "http" or "tcp"
    host: str  # as the application names it (the Host / :authority without the port)
    port: int
    path: str = "/"  # with the query string, as Envoy's :path
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    sni: str | None = None  # TCP only: the TLS server name the application sends
    # when the request is made (epoch seconds), for a JWT's expiry; None: not judged
    # (the translators read no clock: the caller says what time it is)
    at: float | None = None

    @property
    def authority(self) -> str:
        """The :authority Envoy matches virtual hosts on: host:port unless the port is
        the scheme's default (what HTTP clients send)."""
        return self.host if self.port == 80 else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        if self.protocol == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return f"http://{self.authority}{self.path}"


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ExplainError(f"header {text!r}: expected 'name: value'")
    return name.strip().lower(), value.strip()


def parse_request(
    source: str,
    url: str,
    method: str = "GET",
    headers: Iterable[str] = (),
    sni: str | None = None,
) -> ExplainRequest:
    """`http://host[:port]/path?query` or `tcp://host:port`; `headers` as `name: value`."""
    if not source.strip("/"):
        raise ExplainError(
            f"--from {source!r}: expected NAMESPACE/NAME (or a unique NAME) of a workload"
        )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "tcp") or not parts.hostname:
        raise ExplainError(f"{url!r}: expected http://host[:port]/path or tcp://host:port")
    try:
        port = parts.port
    except ValueError as exc:
        raise ExplainError(f"{url!r}: {exc}") from exc
    parsed = dict(parse_header(h) for h in headers)
    if parts.scheme == "tcp":
        if port is None:
            raise ExplainError(f"{url!r}: a TCP URL needs a port (tcp://host:port)")
        return ExplainRequest(source, "tcp", parts.hostname, port, sni=sni)
    if sni is not None:
        raise ExplainError("--sni applies to tcp:// URLs only")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return ExplainRequest(
        source,
        "http",
        parts.hostname,
        port or 80,
        path,
        method.upper(),
        MappingProxyType(parsed),
    )
