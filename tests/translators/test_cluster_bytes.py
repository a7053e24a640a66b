"""A service's clusters assembled together (translators/envoy/clusters.py:
`service_cluster_bytes`, which takes the parts subset clusters share from the one
before) give exactly the bytes each gives alone, on every golden proxy's clusters; so do
its load assignments (`service_load_assignment_bytes`, endpoints framed once)."""

from __future__ import annotations

import pytest

from tests.golden.cases import all_cases, translate_case
from translators.envoy.clusters import (
    cluster_bytes,
    load_assignment_bytes,
    service_cluster_bytes,
    service_load_assignment_bytes,
)
from translators.ir import DestinationIR, Resolution, UpstreamTLSIR, UpstreamTLSMode


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_every_golden_proxys_clusters_assemble_as_each_alone(case: object) -> None:
    _, results = translate_case(case)  # type: ignore[arg-type]
    for result in results:
        destinations = result.view.destinations
        assert service_cluster_bytes(destinations) == [cluster_bytes(d) for d in destinations]
        sets = result.view.endpoint_sets
        assert service_load_assignment_bytes(sets) == [
            load_assignment_bytes(s.destination, s.endpoints, s.groups) for s in sets
        ]


def test_shared_parts_are_taken_only_where_they_are_the_same() -> None:
    sans = ("spiffe://cluster.local/ns/default/sa/reviews",)
    provenance = ("ServiceEntry/default/reviews", "DestinationRule/default/reviews")

    def mtls(sni: str, names: tuple[str, ...] = sans, **extra: object) -> UpstreamTLSIR:
        return UpstreamTLSIR(UpstreamTLSMode.ISTIO_MUTUAL, sni, names, **extra)  # type: ignore[arg-type]

    base = DestinationIR("outbound|80||r", Resolution.ENDPOINTS, provenance=provenance)
    clusters = [
        DestinationIR(base.name, base.resolution, provenance=provenance, tls=mtls("a")),
        DestinationIR("outbound|80|v1|r", base.resolution, provenance=provenance, tls=mtls("b")),
        # other SANs, a CA file, a mesh-only context, plaintext, another timeout, provenance
        DestinationIR("c", base.resolution, provenance=provenance, tls=mtls("c", ("x",))),
        DestinationIR("d", base.resolution, provenance=provenance, tls=mtls("d", ca_crl="f")),
        DestinationIR("e", base.resolution, tls=mtls("e", mesh_endpoints_only=True)),
        DestinationIR("f", base.resolution, connect_timeout_s=1.0),
        DestinationIR("g", Resolution.STATIC, provenance=provenance),
        DestinationIR("h", base.resolution, provenance=("other",), tls=mtls("h")),
        DestinationIR("i", base.resolution, provenance=("other",), tls=mtls("i")),
    ]
    assert service_cluster_bytes(clusters) == [cluster_bytes(c) for c in clusters]
