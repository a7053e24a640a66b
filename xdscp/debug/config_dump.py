"""`GET /debug/config_dump?proxy=NS/NAME[&types=clusters,secrets]`: what a proxy is sent.

Read from the snapshot cache (the only config view the server side has), one entry
per resource: its name, content version, source objects and the resource as
protobuf JSON (Envoy's own config_dump field names, so the two compare directly).
The debug port is plaintext: secrets are redacted here, the way Envoy's admin
redacts them (every field annotated `udpa.annotations.sensitive`), and certificates
are summarized (serial, SPIFFE ID, validity, rotation time) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from aiohttp import web
from cryptography import x509
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import descriptor, json_format
from google.protobuf.message import Message
from udpa.annotations import sensitive_pb2

from translators.resources import MESSAGE_TYPES as _MESSAGE_TYPES
from xdscp.cache import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
    Resource,
    Snapshot,
    SnapshotCache,
)

# The words `proxy-config` uses, in Envoy's push order.
TYPE_NAMES: dict[str, str] = {
    "clusters": CLUSTER_TYPE,
    "endpoints": ENDPOINT_TYPE,
    "listeners": LISTENER_TYPE,
    "routes": ROUTE_TYPE,
    "secrets": SECRET_TYPE,
}
# type URL -> protobuf class: the `xdstypes` table's, resolved by translators.resources
MESSAGE_TYPES = _MESSAGE_TYPES
REDACTED = "[redacted]"

# (SPIFFE ID, serial) -> when the CA will replace that certificate, if it knows.
RotationLookup = Callable[[str, int], datetime | None]


def redact(message: Message) -> None:
    """Overwrite every sensitive field in place, as Envoy's admin does for config_dump:
    strings and bytes become "[redacted]", sensitive sub-messages are redacted whole."""
    for field, value in message.ListFields():
        if field.GetOptions().Extensions[sensitive_pb2.sensitive]:
            _redact_all(message, field, value)
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            for item in _items(field, value):
                redact(item)


def _items(field: descriptor.FieldDescriptor, value: Any) -> list[Message]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        entry_value = field.message_type.fields_by_name["value"]
        if entry_value.type != descriptor.FieldDescriptor.TYPE_MESSAGE:
            return []
        return list(value.values())
    if field.is_repeated:
        return list(value)
    return [value]


def _redact_all(message: Message, field: descriptor.FieldDescriptor, value: Any) -> None:
    if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
        for item in _items(field, value):
            for inner_field, inner_value in item.ListFields():
                _redact_all(item, inner_field, inner_value)
        return
    replacement: Any
    if field.type == descriptor.FieldDescriptor.TYPE_STRING:
        replacement = REDACTED
    elif field.type == descriptor.FieldDescriptor.TYPE_BYTES:
        replacement = REDACTED.encode()
    else:
        return
    if field.is_repeated:
        container = getattr(message, field.name)
        container[:] = [replacement] * len(container)
    else:
        setattr(message, field.name, replacement)


def decode(resource: Resource) -> Message:
    """The resource as a protobuf message, secrets already redacted."""
    message = MESSAGE_TYPES[resource.type_url]()
    message.ParseFromString(resource.body)
    if resource.type_url == SECRET_TYPE:
        redact(message)
    return message


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def certificates(
    secret: secret_pb2.Secret, rotation: RotationLookup | None
) -> list[dict[str, Any]]:
    """Public facts about the certificates in a Secret (never its key)."""
    pem = b""
    if secret.HasField("tls_certificate"):
        pem = _data(secret.tls_certificate.certificate_chain)
    elif secret.HasField("validation_context"):
        pem = _data(secret.validation_context.trusted_ca)
    if not pem:
        return []
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []
    out = []
    for cert in certs:
        spiffe = _spiffe_id(cert)
        rotates_at = rotation(spiffe, cert.serial_number) if (rotation and spiffe) else None
        out.append(
            {
                "serial": format(cert.serial_number, "x"),
                "spiffe_id": spiffe,
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "not_before": _iso(cert.not_valid_before_utc),
                "not_after": _iso(cert.not_valid_after_utc),
                "rotates_at": _iso(rotates_at) if rotates_at else None,
                "ca": _is_ca(cert),
            }
        )
    return out


def _data(source: Any) -> bytes:
    kind = source.WhichOneof("specifier")
    if kind == "inline_bytes":
        return bytes(source.inline_bytes)
    if kind == "inline_string":
        return str(source.inline_string).encode()
    return b""


def _spiffe_id(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = [u for u in san.value.get_values_for_type(x509.UniformResourceIdentifier)]
    return next((u for u in uris if u.startswith("spiffe://")), None)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_json(resource: Resource, rotation: RotationLookup | None = None) -> dict[str, Any]:
    message = decode(resource)
    entry: dict[str, Any] = {
        "name": resource.name,
        "version": resource.version,
        "sources": list(resource.provenance),
        "resource": to_json(message),
    }
    if isinstance(message, secret_pb2.Secret):
        # decoded from the unredacted bytes: the chain is public, the key never read
        original = secret_pb2.Secret()
        original.ParseFromString(resource.body)
        entry["certificates"] = certificates(original, rotation)
    return entry


def snapshot_json(
    snapshot: Snapshot, types: Iterable[str], rotation: RotationLookup | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for word in types:
        type_url = TYPE_NAMES[word]
        ts = snapshot.get(type_url)
        out[word] = {
            "type_url": type_url,
            "version": ts.version,
            "resources": [
                resource_json(ts.resources[name], rotation) for name in sorted(ts.resources)
            ],
        }
    return out


def config_dump_routes(
    cache: SnapshotCache, rotation: RotationLookup | None = None
) -> list[web.RouteDef]:
    """The route for `make_debug_app(extra_routes=...)`."""

    async def handler(request: web.Request) -> web.Response:
        """`GET /debug/config_dump`: the resources a proxy is sent, with their sources
        (?proxy=NS/NAME[&types=clusters,endpoints,listeners,routes,secrets]; keys redacted)"""
        proxy = request.query.get("proxy", "")
        known = sorted(cache.proxies())
        if not proxy:
            return web.json_response({"proxies": known})
        snapshot = cache.get(proxy)
        if snapshot is None:
            return web.json_response(
                {"error": f"no connected proxy {proxy!r}", "proxies": known}, status=404
            )
        words = [w for w in request.query.get("types", "").split(",") if w] or list(TYPE_NAMES)
        unknown = [w for w in words if w not in TYPE_NAMES]
        if unknown:
            return web.json_response(
                {"error": f"unknown types {unknown}; use {sorted(TYPE_NAMES)}"}, status=400
            )
        body = {
            "proxy": proxy,
            "generation": cache.generation(proxy),
            "types": snapshot_json(snapshot, words, rotation),
        }
        return web.json_response(body)

    return [web.get("/debug/config_dump", handler)]
