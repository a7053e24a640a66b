"""The IR is a stage of its own: dumped to YAML and loaded back it is the same IR, and
the xDS made from the loaded IR is byte-identical to the xDS made from the in-memory IR
and to what the translator produced (over every example mesh and golden case)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.golden.cases import every_case, load_mesh
from translators.envoy.proxy import proxy_resources
from translators.gateway.proxy import mesh_gateways
from translators.ir import ProxyView
from translators.ir.codec import IRDocument, IRFormatError, dump_document, load_document
from translators.mesh import MeshConfig
from translators.resources import EnvoyResource
from translators.translate import MeshTranslator, ProxyResources
from xdscp.sources.files import DirectorySource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _meshes() -> Iterator[tuple[str, MeshConfig]]:
    for example in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        yield f"examples/{example.name}", DirectorySource(example).load()
    for case in every_case():
        yield f"{case.root.parent.name}/{case.name}", load_mesh(case)


MESHES = list(_meshes())


def _bytes(resources: Iterable[EnvoyResource]) -> dict[str, bytes]:
    return {r.name: r.body() for r in resources}


def _translated(mesh: MeshConfig) -> Iterator[tuple[ProxyResources, bool]]:
    """Every proxy of `mesh` without extensions, and whether it is a sidecar."""
    translator = MeshTranslator(mesh)
    gateways = mesh_gateways(translator)
    for workload in mesh.workloads.values():
        yield (
            translator.translate(workload, extensions=False),
            not gateways.is_gateway_proxy(workload),
        )


@pytest.mark.parametrize(("name", "mesh"), MESHES, ids=[n for n, _ in MESHES])
def test_ir_yaml_round_trip_generates_identical_xds(name: str, mesh: MeshConfig) -> None:
    sidecars = 0
    for result, sidecar in _translated(mesh):
        text = dump_document(IRDocument(tuple(str(e) for e in mesh.errors), (result.view,)))
        loaded = load_document(text, name)
        assert loaded.proxies == (result.view,), f"{result.proxy}: IR changed in YAML"
        assert dump_document(loaded) == text
        if not sidecar:
            continue  # a gateway's xDS comes from the gateway IR (translators/gateway/ir.py)
        sidecars += 1
        from_memory = proxy_resources(result.view)
        from_yaml = proxy_resources(loaded.proxies[0])
        for type_url, resources in from_memory.items():
            expected = _bytes(resources)
            assert _bytes(from_yaml[type_url]) == expected, f"{result.proxy} {type_url}"
            # the memoized translator assembles the same bytes from shared pieces
            assert _bytes(result.of_type(type_url)) == expected, (
                f"{result.proxy} {type_url}: translator and IR stage differ"
            )
    assert sidecars or name.startswith("examples/gateway")


def test_loading_names_the_field_that_does_not_fit() -> None:
    view = ProxyView(proxy="default/a")
    text = dump_document(IRDocument(proxies=(view,)))
    assert load_document(text).proxies == (view,)
    bad = text.replace(
        "proxy: default/a", "proxy: default/a\n  destinations:\n  - name: x\n    resolution: EDS"
    )
    with pytest.raises(
        IRFormatError,
        match=r"bad.yaml: proxies\[0\]\.destinations\[0\]\.resolution: 'EDS' is not one of",
    ):
        load_document(bad, "bad.yaml")
    with pytest.raises(IRFormatError, match=r"proxies\[0\]: ProxyView has no field 'colour'"):
        load_document(text.replace("proxy: default/a", "proxy: default/a\n  colour: red"))
    with pytest.raises(IRFormatError, match=r"proxies\[0\]\.proxy: required"):
        load_document("proxies:\n- warnings: []\n")
