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

`import translators` is cheap (PEP 562): each public name loads its module on first
use, so `import translators.naming` (or the service's server, which needs only names)
does not pay for protobuf, pydantic and every generator.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Public name -> the module defining it, imported on first attribute access.
_LAZY: dict[str, str] = {
    "CLUSTER_TYPE": "translators.naming",
    "ConfigError": "translators.model.objects",
    "ENDPOINT_TYPE": "translators.naming",
    "Endpoint": "translators.mesh",
    "EnvoyResource": "translators.resources",
    "Extension": "translators.extensions",
    "ExtensionError": "translators.extensions",
    "ExtensionSet": "translators.extensions",
    "KINDS": "translators.model.objects",
    "Kind": "translators.extensions",
    "LISTENER_TYPE": "translators.naming",
    "MeshConfig": "translators.mesh",
    "MeshObject": "translators.model.objects",
    "MeshOptions": "translators.mesh",
    "MeshTranslator": "translators.translate",
    "Origin": "translators.model.objects",
    "Proxy": "translators.extensions",
    "ProxyResources": "translators.translate",
    "ProxyView": "translators.ir",
    "ROUTE_TYPE": "translators.naming",
    "Resource": "translators.extensions",
    "ResourceGroup": "translators.resources",
    "SECRET_TYPE": "translators.naming",
    "Service": "translators.mesh",
    "TelemetryOptions": "translators.telemetry.options",
    "TracingKind": "translators.telemetry.options",
    "TracingProvider": "translators.telemetry.options",
    "Workload": "translators.mesh",
    "build_mesh": "translators.mesh",
    "http_managers": "translators.extensions",
    "insert_http_filter": "translators.extensions",
    "is_inbound": "translators.extensions",
    "is_outbound": "translators.extensions",
    "pack": "translators.extensions",
    "parse_object": "translators.model.objects",
    "to_protobuf": "translators.extensions",
    "translate": "translators.translate",
}

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


def _load(name: str) -> Any:
    return getattr(importlib.import_module(_LAZY[name]), name)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _load(name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _PublicAPI(types.ModuleType):
    """`translate` names both a submodule and the public function. The import system
    binds every loaded submodule on its package (overwriting a lazily bound function),
    so the function is a data descriptor of the module's class, which always wins."""

    _translate: Any = None  # set only by an explicit assignment (a test's monkeypatch)

    @property
    def translate(self) -> Any:
        return self._translate if self._translate is not None else _load("translate")

    @translate.setter
    def translate(self, value: Any) -> None:
        # The submodule stays reachable as sys.modules["translators.translate"].
        if not isinstance(value, types.ModuleType):
            self._translate = value


sys.modules[__name__].__class__ = _PublicAPI
