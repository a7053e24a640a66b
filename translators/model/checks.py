"""Value rules shared by the models: integer widths, host names, endpoint addresses,
header names and values.

Each rule is Istio's (pkg/config/validation), checked where the object is loaded, for
one reason above all: a value Envoy refuses NACKs the whole resource type for every
proxy that receives it, and a value the protobuf field cannot hold (an integer above
2^32-1 in a uint32) makes translation itself fail. Both must be a clear error on the
object, naming the field, never something a proxy or the config loop finds out.
"""

from __future__ import annotations

import functools
import ipaddress
import posixpath
import re
from typing import Annotated

from pydantic import Field

from translators.errors import TranslatorError
from translators.model.envoy_commands import (
    ARGUMENT_COMMANDS,
    BARE_COMMANDS,
    OPTIONAL_ARGUMENT_COMMANDS,
)


class FieldValueError(TranslatorError, ValueError):
    """A check of a whole object that blames one of its fields: `field` (a relative path
    such as `endpoints[0].address`) is appended to where the error is reported."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1

# Istio's API types these fields int32/uint32; Envoy's protos are uint32 (weights,
# limits) — so the narrower of the two, and never negative.
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
UInt32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
PositiveUInt32 = Annotated[int, Field(ge=1, le=UINT32_MAX)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
IntPercent = Annotated[int, Field(ge=0, le=100)]

# --- host names (Istio: pkg/config/validation/agent ValidateWildcardDomain, ValidateFQDN)

_DNS1123_LABEL = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL = re.compile(r"\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
MAX_DOMAIN_LENGTH = 255
MAX_LABEL_LENGTH = 63


def is_dns1123_label(label: str) -> bool:
    return len(label) <= MAX_LABEL_LENGTH and _DNS1123_LABEL.fullmatch(label) is not None


def _domain_preconditions(name: str) -> None:
    if not name:
        raise ValueError("empty host name")
    if len(name) > MAX_DOMAIN_LENGTH:
        raise ValueError(f"{name[:40]!r}...: host name longer than {MAX_DOMAIN_LENGTH}")


def _dns_labels(name: str, labels: list[str]) -> None:
    if labels and labels[-1].isdigit():
        raise ValueError(f"{name!r}: the top-level domain {labels[-1]!r} cannot be all-numeric")
    for i, label in enumerate(labels):
        if i == len(labels) - 1 and label == "":
            return  # `istio.io.`: a trailing dot is allowed
        if not is_dns1123_label(label):
            raise ValueError(f"{name!r}: {label!r} is not a valid DNS label")


def check_fqdn(name: str) -> str:
    """A DNS name without wildcards (Istio's ValidateFQDN)."""
    _domain_preconditions(name)
    _dns_labels(name, name.split("."))
    return name


# host names found valid (a service's host is checked in its ServiceEntry, its
# DestinationRule and each route to it: 50,000 checks of 10,000 names); bounded
_VALID_DOMAINS: set[str] = set()
_VALID_DOMAINS_MAX = 100_000


def check_wildcard_domain(name: str) -> str:
    """A DNS name whose first label may be `*` or start with `*` (Istio's
    ValidateWildcardDomain): `*`, `*.example.com`, `reviews`; never `a.*.com`."""
    if name in _VALID_DOMAINS:
        return name
    _domain_preconditions(name)
    first, dot, rest = name.partition(".")
    if len(first) > MAX_LABEL_LENGTH or _WILDCARD_LABEL.fullmatch(first) is None:
        raise ValueError(f"{name!r}: {first!r} is not a valid DNS label (or '*' prefix)")
    if dot:
        _dns_labels(name, rest.split("."))
    if len(_VALID_DOMAINS) >= _VALID_DOMAINS_MAX:
        _VALID_DOMAINS.clear()
    _VALID_DOMAINS.add(name)
    return name


# Without a colon only IPv4 is possible, which is digits and dots: any other character
# says "not an IP" without ipaddress's exceptions (slow; this runs for every host).
_NOT_IPV4 = re.compile(r"[^0-9.]")


# (bounded: an address is checked as the object is validated, again as the registry is
# built; a few hundred thousand entries at most)
@functools.lru_cache(maxsize=1 << 16)
def is_ip(value: str) -> bool:
    if ":" not in value:
        if _NOT_IPV4.search(value) is not None:
            return False
        # digits and dots: checked here as ipaddress would (4 octets <= 255, no leading
        # zero), 20x faster; it runs for every WorkloadEntry of a registry build
        octets = value.split(".")
        return len(octets) == 4 and all(
            0 < len(o) <= 3 and (o == "0" or o[0] != "0") and int(o) <= 255 for o in octets
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_host(name: str, *, allow_star: bool, allow_ip: bool = False) -> str:
    """A service host: a wildcard domain; `*` alone only where Istio allows it."""
    if name == "*" and not allow_star:
        raise ValueError("'*' alone is not allowed here (use a namespace or domain wildcard)")
    if allow_ip and is_ip(name):
        return name
    return check_wildcard_domain(name)


def check_ip_or_cidr(value: str) -> str:
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from None
    return value


# --- endpoint addresses (Istio: validateWorkloadEntry, ValidateUnixAddress) ----------

UNIX_PREFIX = "unix://"


def check_unix_address(address: str) -> str:
    path = address.removeprefix(UNIX_PREFIX)
    if not path:
        raise ValueError(f"{address!r}: the unix socket path is empty")
    if path.startswith("@"):
        return address  # an abstract socket
    if not posixpath.isabs(path) or path.endswith("/"):
        raise ValueError(f"{address!r}: not an absolute path to a socket file")
    return address


def check_endpoint_address(address: str, *, allow_fqdn: bool) -> str:
    """An endpoint address: an IP, `unix:///abs/path`, or (when the service resolves by
    DNS) a DNS name. Anything else — `""`, `10.0.2.1inf` — Envoy refuses for every
    proxy that gets the endpoint, so it is refused here."""
    if not address:
        raise ValueError("an endpoint address is required")
    if address.startswith(UNIX_PREFIX):
        return check_unix_address(address)
    if is_ip(address):
        return address
    if not allow_fqdn:
        raise ValueError(f"{address!r} is not an IP address")
    try:
        check_fqdn(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address or DNS name") from None
    return address


# --- HTTP headers (Istio: ValidateHTTPHeaderValue, validHeaderNameRegex) --------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+")
_HEADER_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_header_name(name: str) -> str:
    """A header name as HTTP defines it (an RFC 7230 token), or an HTTP/2 pseudo-header."""
    if name in (":method", ":scheme", ":authority", ":path", ":status"):
        return name
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid header name")
    return name


def check_header_value(value: str) -> str:
    """A header value Envoy accepts: no control characters, and every `%` either
    escaped (`%%`) or part of a well-formed `%COMMAND%` / `%COMMAND(args)%` (Envoy reads
    header values it adds as format strings and refuses a stray `%`)."""
    if _HEADER_VALUE_CONTROL.search(value):
        raise ValueError(f"{value!r}: control characters are not allowed in a header value")
    problem = _format_string_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r}: {problem} (write a literal % as %%)")
    return value


def _format_string_problem(value: str) -> str | None:
    """Envoy's header formatter grammar, as Istio checks it (header_value_validator.go):
    literal text, `%%`, `%VAR%`, `%VAR(arg)%` or `%VAR(["a", "b"])%` — and, beyond Istio,
    VAR must be a command Envoy knows, with arguments where it needs them."""
    i, n = 0, len(value)
    while i < n:
        if value[i] != "%":
            i += 1
            continue
        if i + 1 == n:
            return "un-escaped %"
        if value[i + 1] == "%":
            i += 2
            continue
        found = _variable(value, i + 1)
        if found is None:
            return "un-terminated %VARIABLE%"
        name, arguments, end = found
        problem = _command_problem(name, arguments)
        if problem is not None:
            return problem
        i = end + 1
    return None


def _variable(value: str, start: int) -> tuple[str, str | None, int] | None:
    """(name, arguments or None, index of the closing `%`) of the variable whose name
    starts at `start`, or None when it is not terminated."""
    n = len(value)
    i = start
    while i < n and value[i] not in "%(":
        i += 1
    if i == n:
        return None
    if value[i] == "%":
        return value[start:i], None, i
    # `(`: arguments, up to `)`, then the closing `%`
    close = value.find(")", i + 1)
    if close < 0 or close + 1 >= n or value[close + 1] != "%":
        return None
    return value[start:i], value[i + 1 : close], close + 1


def _command_problem(name: str, arguments: str | None) -> str | None:
    if name in OPTIONAL_ARGUMENT_COMMANDS:
        return "empty arguments in %" + name + "()%" if arguments == "" else None
    if name in BARE_COMMANDS:
        return None if arguments is None else f"%{name}% takes no arguments"
    if name in ARGUMENT_COMMANDS:
        return None if arguments else f"%{name}(...)% needs arguments"
    return f"%{name}% is not a command Envoy knows"


_LINE_BREAKS = re.compile(r"[\x00\r\n]")


def check_no_control(value: str, what: str) -> str:
    """Envoy refuses NUL, CR and LF in header names, header values and the path and host
    texts of redirects and rewrites (they could split an HTTP message)."""
    if _LINE_BREAKS.search(value):
        raise ValueError(f"{what} {value!r}: NUL, CR and LF are not allowed")
    return value


# --- exportTo (Istio: validateExportTo) ---------------------------------------------


def check_export_to(export_to: list[str], *, service_entry: bool = False) -> list[str]:
    """`.` (this namespace), `*` (every namespace, alone), namespace names, and for a
    ServiceEntry `~` (no one, alone); no duplicates. (`.` beside the object's own namespace
    is also a duplicate: `check_export_to_namespace`, where the namespace is known.)"""
    seen: set[str] = set()
    for value in export_to:
        if value in seen:
            raise ValueError(f"duplicate entries in exportTo for entry {value!r}")
        seen.add(value)
        if value == "~":
            if not service_entry:
                raise ValueError("'~' (export to no one) is allowed for ServiceEntries only")
        elif value not in (".", "*") and not is_dns1123_label(value):
            raise ValueError(f"{value!r} is not '.', '*' or a namespace name")
    if "*" in seen and len(export_to) > 1:
        raise ValueError("cannot have both public (*) and non-public exportTo values")
    if "~" in seen and len(export_to) > 1:
        raise ValueError("cannot export to no one (~) and someone")
    return export_to


def check_export_to_namespace(export_to: list[str], namespace: str) -> None:
    if "." in export_to and namespace in export_to:
        raise FieldValueError(
            "exportTo", f"duplicate entries in exportTo: . and current namespace {namespace}"
        )
