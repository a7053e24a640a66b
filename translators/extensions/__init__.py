"""Extending the translators without forking them: custom object kinds with their own
translation, and patches over generated resources (Istio's EnvoyFilter, in Python).

    from translators.extensions import Extension
    from translators.naming import LISTENER_TYPE

    ext = Extension("my-extension")
    ext.add_kind("LocalRateLimit", "extensions.xdscp.io", ["v1alpha1"], LocalRateLimitSpec)
    ext.add_patch(LISTENER_TYPE, add_rate_limit)

    translator = MeshTranslator(mesh, extensions=ExtensionSet((ext,)))

See `examples/extension/` for a complete one and README "Extending xdscp".
"""

from translators.extensions.api import (
    EXTENSIBLE_TYPES,
    Extension,
    ExtensionError,
    ExtensionSet,
    Kind,
    Patch,
    PatchFn,
    Proxy,
    Resource,
    TranslateFn,
    Translator,
)
from translators.extensions.convert import pack, to_protobuf
from translators.extensions.helpers import (
    http_managers,
    insert_http_filter,
    is_inbound,
    is_outbound,
)

__all__ = [
    "EXTENSIBLE_TYPES",
    "Extension",
    "ExtensionError",
    "ExtensionSet",
    "Kind",
    "Patch",
    "PatchFn",
    "Proxy",
    "Resource",
    "TranslateFn",
    "Translator",
    "http_managers",
    "insert_http_filter",
    "is_inbound",
    "is_outbound",
    "pack",
    "to_protobuf",
]
