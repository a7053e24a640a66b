"""One generated Envoy resource and groups of them: the translator's output unit.

Separate from `translators.translate` so extensions (which build and patch these)
and the translator can both depend on it without importing each other.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

MESSAGE_TYPES: dict[str, type[Message]] = {
    CLUSTER_TYPE: cluster_pb2.Cluster,
    ENDPOINT_TYPE: endpoint_pb2.ClusterLoadAssignment,
    LISTENER_TYPE: listener_pb2.Listener,
    ROUTE_TYPE: route_pb2.RouteConfiguration,
}


class EnvoyResource:
    """One Envoy resource with the mesh objects it came from: a protobuf message, or its
    already-serialized bytes (large route configs are assembled from cached pieces).
    Compared by identity: the translator returns the same object for the same content."""

    __slots__ = ("_body", "_message", "name", "provenance", "type_url")

    def __init__(
        self,
        type_url: str,
        name: str,
        message: Message | None = None,
        provenance: tuple[str, ...] = (),
        body: bytes | None = None,
    ) -> None:
        if message is None and body is None:
            raise ValueError("an EnvoyResource needs a message or its bytes")
        self.type_url = type_url
        self.name = name
        self.provenance = provenance
        self._message = message
        self._body = body

    @property
    def message(self) -> Message:
        if self._message is None:
            parsed = MESSAGE_TYPES[self.type_url]()
            parsed.ParseFromString(self._body or b"")
            return parsed
        return self._message

    def body(self) -> bytes:
        """Deterministic serialization (what versions are hashed from)."""
        if self._body is None:
            self._body = self.message.SerializeToString(deterministic=True)
        return self._body

    def __repr__(self) -> str:
        return f"EnvoyResource({self.type_url.rsplit('.', 1)[-1]}, {self.name!r})"


class ResourceGroup(tuple[EnvoyResource, ...]):
    """A tuple of resources built together and shared by identity between proxies, so the
    cache can serialize, hash and version the group once, not once per proxy."""

    __slots__ = ()
