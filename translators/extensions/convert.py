"""envoy-data-plane (betterproto2) messages -> xds-protos (protobuf upb) messages.

Extensions may be written with envoy-data-plane's dataclass-style messages; the hot
path is protobuf (DESIGN §3). The two meet here, once per returned message, through
the wire format: `bytes(msg)` then `FromString`, which is exact (same schema on both
sides) and leaves no betterproto object in the translator's output.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Any

from google.protobuf import any_pb2, symbol_database
from google.protobuf.message import Message

TYPE_PREFIX = "type.googleapis.com/"
_BETTERPROTO_ROOT = "envoy_data_plane."


def is_betterproto(value: object) -> bool:
    """Without importing betterproto2 (only a dev dependency): its messages are dataclasses
    whose class carries `_betterproto` metadata and serialize with `bytes()`."""
    return hasattr(type(value), "_betterproto") and hasattr(value, "__bytes__")


def betterproto_full_name(value: Any) -> str:
    """The protobuf full name of a betterproto2 message, from envoy-data-plane's pool
    (falling back to its module path, which mirrors the proto package)."""
    cls = type(value)
    try:
        from envoy_data_plane.message_pool import default_message_pool

        url: str | None = default_message_pool.type_to_url.get(cls)
    except ImportError:  # pragma: no cover - envoy-data-plane present whenever its types are
        url = None
    if url:
        return url.rsplit("/", 1)[-1]
    module = cls.__module__.removeprefix(_BETTERPROTO_ROOT)
    return f"{module}.{cls.__name__}"


@lru_cache(maxsize=1024)
def protobuf_class(full_name: str) -> type[Message]:
    """The xds-protos class of a message type, importing its `_pb2` module if needed."""
    database = symbol_database.Default()
    try:
        found: type[Message] = database.GetSymbol(full_name)
        return found
    except KeyError:
        pass
    package = full_name
    while "." in package:
        package = package.rsplit(".", 1)[0]
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if info.name.endswith("_pb2"):
                importlib.import_module(f"{package}.{info.name}")
        try:
            found = database.GetSymbol(full_name)
            return found
        except KeyError:
            continue
    raise TypeError(f"no protobuf message type {full_name!r} in xds-protos")


def to_protobuf(value: object) -> Message:
    """A protobuf message for `value` (itself when it already is one)."""
    if isinstance(value, Message):
        return value
    if is_betterproto(value):
        cls = protobuf_class(betterproto_full_name(value))
        return cls.FromString(bytes(value))  # type: ignore[call-overload]
    raise TypeError(f"expected a protobuf or envoy-data-plane message, got {type(value).__name__}")


def pack(value: object) -> any_pb2.Any:
    """`google.protobuf.Any` holding `value` (protobuf or envoy-data-plane message), for
    `typed_config` fields."""
    packed = any_pb2.Any()
    packed.Pack(to_protobuf(value))
    return packed


def type_url_of(message: Message) -> str:
    return TYPE_PREFIX + message.DESCRIPTOR.full_name
