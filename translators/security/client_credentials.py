"""The credentials (`credentialName`) a proxy's outbound clusters originate TLS with: their
CA (and, MUTUAL, certificate and key) reach the proxy over SDS, like a gateway's
certificates, and only the proxies whose clusters name them get them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from translators.gateway.ir import Credential
from translators.ir import UpstreamTLSMode
from translators.mesh import MeshConfig, Workload
from translators.model.networking import DestinationRuleSpec
from translators.security.upstream import credential_names

if TYPE_CHECKING:
    from translators.translate import MeshTranslator


def client_credentials(translator: MeshTranslator, workload: Workload) -> tuple[Credential, ...]:
    """Every credential `workload`'s clusters use, once per scope (a memo piece of the
    translator: rebuilt only when the proxy's clusters change)."""
    memo = translator._memo
    if not memo.get(("credential-rules",), lambda: _any_credential_rule(translator)):
        # no rule names one: nothing to scan, and no outbound view to build for it (a
        # warm start serves a kept translation without building one: xdscp/warm_start.py)
        return ()
    view_key, build_view = translator._outbound_view(workload)
    view = memo.get(view_key, build_view)

    def scan() -> tuple[Credential, ...]:
        memo.inherit(view_key)
        mutual: dict[str, bool] = {}
        for cluster in view.clusters:
            tls = cluster.tls
            if tls is not None and tls.credential:
                mutual[tls.credential] = (
                    mutual.get(tls.credential, False) or tls.mode is UpstreamTLSMode.MUTUAL
                )
        out = []
        for credential, with_key in sorted(mutual.items()):
            namespace, _, name = credential.partition("/")
            out.append(Credential(namespace, name, with_ca=True, with_key=with_key))
        return tuple(out)

    return memo.get(("client-credentials", view.clusters_key), scan)


def _any_credential_rule(translator: MeshTranslator) -> bool:
    """Whether any DestinationRule names a `credentialName` (a memo piece: scanned again
    only when a DestinationRule changes)."""
    translator._memo.read(("kind", "DestinationRule"))
    rules = translator.mesh.of_kind("DestinationRule")
    return any(credential_names(rule.spec) for rule in rules)


def merged(credentials: tuple[Credential, ...]) -> tuple[Credential, ...]:
    """One Credential per Secret (the SDS names are per Secret): what any use needs."""
    by_secret: dict[tuple[str, str], Credential] = {}
    for c in credentials:
        seen = by_secret.get((c.namespace, c.name))
        if seen is not None:
            c = Credential(
                c.namespace, c.name, c.with_ca or seen.with_ca, c.with_key or seen.with_key
            )
        by_secret[(c.namespace, c.name)] = c
    return tuple(by_secret.values())


def rule_credentials(mesh: MeshConfig) -> set[tuple[str, str]]:
    """(namespace, name) of every credential a DestinationRule makes proxies read (see
    `credential_namespace`): a rule with a workloadSelector in its namespace, one
    without in every namespace that runs a gateway proxy."""
    from translators.gateway.proxy import MeshGateways  # (the gateway package imports us)

    gateway_namespaces: set[str] | None = None
    out: set[tuple[str, str]] = set()
    for rule in mesh.of_kind("DestinationRule"):
        spec: DestinationRuleSpec = rule.spec
        names = credential_names(spec)
        if not names:
            continue
        if spec.workload_selector is not None:
            out.update((rule.namespace, name) for name in names)
            continue
        if gateway_namespaces is None:
            gateways = MeshGateways.of(mesh)
            gateway_namespaces = {
                w.namespace for w in mesh.workloads.values() if gateways.is_gateway_proxy(w)
            }
        out.update((namespace, name) for namespace in gateway_namespaces for name in names)
    return out
