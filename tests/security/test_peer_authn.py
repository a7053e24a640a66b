"""PeerAuthentication precedence (Istio's ComposePeerAuthentication), unit and property
tests, and the inbound filter chains each effective mode produces."""

from __future__ import annotations

import textwrap
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.translators.helpers import mesh_of, workload
from translators.behaviour.rbac import ALLOWED, REFUSED, Call, inbound_verdict
from translators.ir import InboundMTLS
from translators.mesh import MeshOptions
from translators.model.objects import MeshObject, Origin, parse_object
from translators.model.security import PeerAuthenticationSpec
from translators.security.peer_authn import EffectiveMTLS, PeerAuthentications, compose
from translators.translate import translate

ROOT = "istio-system"
PEER = "spiffe://cluster.local/ns/prod/sa/frontend"


def policy(
    name: str,
    namespace: str,
    mode: str | None = None,
    selector: dict[str, str] | None = None,
    ports: dict[int, str] | None = None,
    created: str | None = None,
) -> MeshObject[PeerAuthenticationSpec]:
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if ports is not None:
        spec["portLevelMtls"] = {port: {"mode": m} for port, m in ports.items()}
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if created:
        meta["creationTimestamp"] = created
    doc = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": meta,
        "spec": spec,
    }
    parsed = parse_object(doc, Origin("test"))
    assert isinstance(parsed, MeshObject), parsed
    return parsed


def effective(
    *policies: MeshObject[PeerAuthenticationSpec], labels: dict[str, str] | None = None
) -> EffectiveMTLS:
    index = PeerAuthentications(policies, ROOT)
    return index.effective("prod", labels or {"app": "api"})


def test_nothing_set_is_permissive() -> None:
    assert effective().mode is InboundMTLS.PERMISSIVE
    assert effective(policy("x", "prod", "UNSET")).mode is InboundMTLS.PERMISSIVE


def test_most_specific_scope_wins() -> None:
    mesh = policy("default", ROOT, "STRICT")
    namespace = policy("default", "prod", "DISABLE")
    selected = policy("api", "prod", "PERMISSIVE", {"app": "api"})
    assert effective(mesh).mode is InboundMTLS.STRICT
    assert effective(mesh, namespace).mode is InboundMTLS.DISABLE
    assert effective(mesh, namespace, selected).mode is InboundMTLS.PERMISSIVE
    # the selector must match; other namespaces never apply
    assert effective(mesh, namespace, selected, labels={"app": "web"}).mode is InboundMTLS.DISABLE
    assert effective(mesh, policy("default", "shop", "DISABLE")).mode is InboundMTLS.STRICT


def test_unset_inherits_from_the_wider_scope() -> None:
    mesh = policy("default", ROOT, "STRICT")
    assert effective(mesh, policy("ns", "prod", "UNSET")).mode is InboundMTLS.STRICT
    assert effective(mesh, policy("api", "prod", None, {"app": "api"})).mode is InboundMTLS.STRICT


def test_oldest_wins_then_name() -> None:
    old = policy("b-old", "prod", "DISABLE", {"app": "api"}, created="2024-01-01T00:00:00Z")
    new = policy("a-new", "prod", "STRICT", {"app": "api"}, created="2025-01-01T00:00:00Z")
    assert effective(new, old).mode is InboundMTLS.DISABLE
    assert effective(old, new).sources == ("PeerAuthentication/prod/b-old",)
    same_a = policy("a", "prod", "STRICT")
    same_b = policy("b", "prod", "DISABLE")
    assert effective(same_b, same_a).mode is InboundMTLS.STRICT


def test_selector_in_root_namespace_is_ignored_and_empty_selector_is_namespace_wide() -> None:
    assert effective(policy("x", ROOT, "DISABLE", {"app": "api"})).mode is InboundMTLS.PERMISSIVE
    empty = policy("x", "prod", "STRICT", {})
    assert effective(empty, labels={"any": "thing"}).mode is InboundMTLS.STRICT


def test_port_level_overrides_and_unset_ports_inherit() -> None:
    result = effective(
        policy("default", ROOT, "STRICT"),
        policy("api", "prod", "UNSET", {"app": "api"}, {8080: "DISABLE", 9090: "UNSET"}),
    )
    assert result.at(8080) is InboundMTLS.DISABLE
    assert result.at(9090) is InboundMTLS.STRICT
    assert result.at(7070) is InboundMTLS.STRICT


MODES = st.sampled_from([None, "UNSET", "DISABLE", "PERMISSIVE", "STRICT"])
SCOPES = st.sampled_from(["mesh", "namespace", "workload", "other-workload", "other-namespace"])


@st.composite
def policies(draw: st.DrawFn) -> list[MeshObject[PeerAuthenticationSpec]]:
    out = []
    for i in range(draw(st.integers(0, 6))):
        scope = draw(SCOPES)
        created = f"2024-01-{draw(st.integers(1, 3)):02d}T00:00:00Z"
        mode = draw(MODES)
        if scope == "mesh":
            out.append(policy(f"p{i}", ROOT, mode, created=created))
        elif scope == "namespace":
            out.append(policy(f"p{i}", "prod", mode, created=created))
        elif scope == "other-namespace":
            out.append(policy(f"p{i}", "shop", mode, created=created))
        else:
            app = "api" if scope == "workload" else "web"
            ports = draw(
                st.none()
                | st.dictionaries(st.sampled_from([80, 8080]), MODES.filter(bool), min_size=1)
            )
            out.append(policy(f"p{i}", "prod", mode, {"app": app}, ports, created))  # type: ignore[arg-type]
    return out


def reference(items: list[MeshObject[PeerAuthenticationSpec]], port: int) -> InboundMTLS:
    """Istio's rule, written the long way: per scope the oldest (then by name) policy,
    then the narrowest non-UNSET mode; port-level from the chosen workload policy."""

    def oldest(candidates: list[MeshObject[PeerAuthenticationSpec]]) -> Any:
        ordered = sorted(
            candidates, key=lambda p: (p.meta.creationTimestamp or "", p.namespace, p.name)
        )
        return ordered[0] if ordered else None

    scopes = [
        oldest([p for p in items if p.namespace == ROOT and not p.spec.has_selector]),
        oldest([p for p in items if p.namespace == "prod" and not p.spec.has_selector]),
        oldest(
            [
                p
                for p in items
                if p.namespace == "prod"
                and p.spec.has_selector
                and p.spec.selector is not None
                and p.spec.selector.match_labels.get("app") == "api"
            ]
        ),
    ]
    mode = "PERMISSIVE"
    for chosen in scopes:
        if chosen is not None and chosen.spec.mode.value != "UNSET":
            mode = chosen.spec.mode.value
    workload_policy = scopes[2]
    if workload_policy is not None and workload_policy.spec.port_level_mtls:
        setting = workload_policy.spec.port_level_mtls.get(port)
        if setting is not None and setting.mode.value != "UNSET":
            mode = setting.mode.value
    return InboundMTLS(mode)


@settings(max_examples=300, deadline=None)
@given(policies(), st.permutations(range(6)))
def test_precedence_matches_istio_and_ignores_input_order(
    items: list[MeshObject[PeerAuthenticationSpec]], order: list[int]
) -> None:
    shuffled = [items[i] for i in order if i < len(items)]
    result = compose(ROOT, PeerAuthentications(items, ROOT).applicable("prod", {"app": "api"}))
    again = compose(ROOT, PeerAuthentications(shuffled, ROOT).applicable("prod", {"app": "api"}))
    assert result == again
    for port in (80, 8080, 9999):
        assert result.at(port) is reference(items, port)


# --- what each mode produces, judged by the listener evaluator -------------------------

SERVER = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api, namespace: prod}
spec: {address: 10.0.0.2, serviceAccount: api, labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: api, namespace: prod}
spec:
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:18080
  - port: {number: 5432, protocol: TCP, name: tcp}
    defaultEndpoint: 127.0.0.1:15432
"""


def server_with(mode: str) -> Any:
    text = SERVER + textwrap.dedent(
        f"""\
        ---
        apiVersion: security.istio.io/v1beta1
        kind: PeerAuthentication
        metadata: {{name: default, namespace: prod}}
        spec:
          mtls: {{mode: {mode}}}
        """
    )
    mesh = mesh_of(text, MeshOptions())
    return translate(mesh, workload(mesh, "prod/api"))


def test_strict_accepts_only_mutual_tls_on_every_port() -> None:
    resources = server_with("STRICT")
    for port in (8080, 5432):
        assert inbound_verdict(resources, Call(port, PEER)) == ALLOWED
        assert inbound_verdict(resources, Call(port)) == REFUSED  # plaintext
        assert inbound_verdict(resources, Call(port, tls=True)) == REFUSED  # no client cert


def test_strict_listener_has_no_plaintext_chain() -> None:
    """Fail closed: every chain of a STRICT port terminates mutual TLS."""
    from translators.behaviour.rbac import inbound_listener

    resources = server_with("STRICT")
    for port in (8080, 5432):
        listener = inbound_listener(resources, port)
        assert len(listener.filter_chains) == 1
        assert all(c.HasField("transport_socket") for c in listener.filter_chains)
        assert not listener.HasField("default_filter_chain")


def test_permissive_accepts_both_and_disable_only_plaintext() -> None:
    permissive = server_with("PERMISSIVE")
    disable = server_with("DISABLE")
    for port in (8080, 5432):
        assert inbound_verdict(permissive, Call(port, PEER)) == ALLOWED
        assert inbound_verdict(permissive, Call(port)) == ALLOWED
        assert inbound_verdict(disable, Call(port)) == ALLOWED
        assert inbound_verdict(disable, Call(port, PEER)) == REFUSED
