"""Istio mesh objects -> intermediate representation -> Envoy resources (pure functions).

The public, typed library API. The usual path:

    from translators import MeshOptions, MeshTranslator, build_mesh, parse_object, Origin

    objects = [parse_object(doc, Origin("mesh.yaml", i)) for i, doc in enumerate(docs)]
    mesh = build_mesh([o for o in objects if not isinstance(o, list)], options=MeshOptions())
    translator = MeshTranslator(mesh)            # one per MeshConfig generation
    resources = translator.translate(mesh.workload("default", "client"))
    for resource in resources.resources:         # protobuf messages (xds-protos)
        print(resource.type_url, resource.name)

Extending it without forking (a custom kind with its own translation, or patches over
generated resources, Istio's EnvoyFilter in Python) is `Extension` + `ExtensionSet`:
see `translators.extensions` and `examples/extension/`.

Everything here is pure: no I/O, no globals, no environment reads; options come in
as arguments. Anything not listed in `__all__` is internal and may change.
"""

from translators.extensions import (
    Extension,
    ExtensionError,
    ExtensionSet,
    Kind,
    Proxy,
    Resource,
    http_managers,
    insert_http_filter,
    is_inbound,
    is_outbound,
    pack,
    to_protobuf,
)
from translators.ir import ProxyView
from translators.mesh import Endpoint, MeshConfig, MeshOptions, Service, Workload, build_mesh
from translators.model.objects import KINDS, ConfigError, MeshObject, Origin, parse_object
from translators.naming import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
)
from translators.resources import EnvoyResource, ResourceGroup
from translators.telemetry.options import TelemetryOptions, TracingKind, TracingProvider
from translators.translate import MeshTranslator, ProxyResources, translate

__all__ = [
    "CLUSTER_TYPE",
    "ENDPOINT_TYPE",
    "KINDS",
    "LISTENER_TYPE",
    "ROUTE_TYPE",
    "SECRET_TYPE",
    "ConfigError",
    "Endpoint",
    "EnvoyResource",
    "Extension",
    "ExtensionError",
    "ExtensionSet",
    "Kind",
    "MeshConfig",
    "MeshObject",
    "MeshOptions",
    "MeshTranslator",
    "Origin",
    "Proxy",
    "ProxyResources",
    "ProxyView",
    "Resource",
    "ResourceGroup",
    "Service",
    "TelemetryOptions",
    "TracingKind",
    "TracingProvider",
    "Workload",
    "build_mesh",
    "http_managers",
    "insert_http_filter",
    "is_inbound",
    "is_outbound",
    "pack",
    "parse_object",
    "to_protobuf",
    "translate",
]
