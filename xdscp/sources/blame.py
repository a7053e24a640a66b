"""Which object makes a proxy's translation fail.

Validation cannot foresee every way an object can break translation (a number Envoy's
protobuf cannot hold, a bug in a translator). When building a proxy's config raises,
the objects that changed are the suspects: with all of them reverted to their last
good versions (or new ones left out) it translates; re-applying them in order tells
which one breaks it, in a handful of translations by halving. The source then rejects
that object alone, as if validation had, and keeps its last good version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from translators.extensions import ExtensionError, ExtensionSet
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import ConfigError, MeshObject
from translators.translate import MeshTranslator

Key = tuple[str, str, str]


def translation_failure(
    mesh: MeshConfig, workload_key: str, extensions: ExtensionSet | None = None
) -> str | None:
    """Why translating `workload_key` in `mesh` raises, or None when it works. A workload
    the mesh no longer has counts as failing: leaving it out proves nothing."""
    workload = mesh.workloads.get(workload_key)
    if workload is None:
        return f"workload {workload_key} is gone"
    try:
        MeshTranslator(mesh, None, extensions).translate(workload)
    except ExtensionError:
        return None  # extensions fail on their own terms (see MeshRuntime)
    except Exception as exc:  # whatever translation raises is what we are looking for
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


# the registry first: a route or policy is only translated once the service it names exists
_KIND_ORDER = {"WorkloadEntry": 0, "ServiceEntry": 1}


def find_culprits(
    objects: Sequence[MeshObject[Any]],
    options: MeshOptions,
    workload_key: str,
    suspects: Sequence[MeshObject[Any]],
    fallback: Mapping[Key, MeshObject[Any]],
    extensions: ExtensionSet | None = None,
) -> list[MeshObject[Any]]:
    """The suspect whose change makes `workload_key` fail to translate (empty when
    reverting every suspect does not help: then the failure is not theirs).

    Suspects are re-applied one by one onto the mesh with all of them reverted, services
    before what refers to them; the first whose arrival makes translation fail is the
    culprit (found by halving: a handful of translations, not one per suspect). Leaving
    objects out instead would blame a ServiceEntry for its broken VirtualService."""
    namespace, _, name = workload_key.partition("/")
    own = ("WorkloadEntry", namespace, name)  # the proxy itself is never left out
    order = sorted(
        (o for o in suspects if o.key != own),
        key=lambda o: (_KIND_ORDER.get(o.kind, 2), o.key),
    )

    def fails_with_first(count: int) -> bool:
        reverted = {o.key for o in order[count:]}
        kept = [o for o in objects if o.key not in reverted]
        kept += [fallback[k] for k in reverted if k in fallback]
        mesh = build_mesh(kept, (), options)
        return translation_failure(mesh, workload_key, extensions) is not None

    if not order or fails_with_first(0) or not fails_with_first(len(order)):
        return []
    passes, fails = 0, len(order)
    while fails - passes > 1:
        middle = (passes + fails) // 2
        if fails_with_first(middle):
            fails = middle
        else:
            passes = middle
    return [order[fails - 1]]


def rejection(obj: MeshObject[Any], failure: str, kept: bool) -> ConfigError:
    action = "the last good version stays in force" if kept else "not applied"
    return ConfigError(
        obj.origin,
        obj.kind,
        obj.namespace,
        obj.name,
        "",
        f"cannot be translated for Envoy ({failure}); {action}",
    )


def translation_errors(
    mesh: MeshConfig, extensions: ExtensionSet | None = None
) -> list[ConfigError]:
    """Translate every workload of `mesh` (as `validate` does) and name the objects that
    make a translation fail, each once; a failure no object explains is reported on the
    workload. After a culprit is found the rest is checked without it, as it would run."""
    translator = MeshTranslator(mesh, None, extensions)
    errors: list[ConfigError] = []
    blamed: set[Key] = set()
    for key in sorted(mesh.workloads):
        workload = translator.mesh.workloads.get(key)
        if workload is None:
            continue
        try:
            translator.translate(workload)
        except ExtensionError:
            continue
        except Exception as exc:  # the failure is reported, never raised
            failure = f"{type(exc).__name__}: {str(exc)[:300]}"
        else:
            continue
        current = translator.mesh
        own = ("WorkloadEntry", workload.namespace, workload.name)
        culprits = find_culprits(
            current.objects, mesh.options, key, current.objects, {}, extensions
        )
        if not culprits:
            origin = next((o.origin for o in current.objects if o.key == own), None)
            if origin is not None:
                message = f"the sidecar config cannot be built ({failure})"
                errors.append(ConfigError(origin, *own, "", message))
            continue
        for obj in culprits:
            blamed.add(obj.key)
            errors.append(rejection(obj, failure, kept=False))
        remaining = [o for o in current.objects if o.key not in blamed]
        translator = MeshTranslator(build_mesh(remaining, (), mesh.options), None, extensions)
    return errors
