"""`explain` decides AuthorizationPolicy path templates, trust domains and CUSTOM
policies (no extension provider: denied) as the generated RBAC filters do."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.explain.test_explain import STRICT, ask, translator_of

POLICIES = """\
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-items, namespace: prod}
spec:
  selector:
    matchLabels: {app: orders}
  rules:
  - from:
    - source: {trustDomains: [cluster.local]}
    to:
    - operation: {methods: [GET], paths: ["/items/{*}/price"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-ext, namespace: prod}
spec:
  selector:
    matchLabels: {app: orders}
  action: CUSTOM
  provider: {name: opa}
  rules:
  - to:
    - operation: {paths: ["/items/{*}/secret"]}
"""


def test_templates_trust_domains_and_custom_in_explain(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh"
    shutil.copytree(STRICT, mesh)
    with (mesh / "authorization.yaml").open("a") as out:
        out.write(POLICIES)
    translator = translator_of(mesh)

    one = ask(translator, "prod/frontend", "http://orders:8080/items/7/price")
    assert [o.result for o in one.outcomes] == ["forwarded"]
    inbound = one.destinations[0].endpoints[0].inbound
    assert inbound is not None
    assert inbound.reason == "allowed by AuthorizationPolicy/prod/orders-items rules[0]"

    two = ask(translator, "prod/frontend", "http://orders:8080/items/7/8/price")
    assert [(o.result, o.status) for o in two.outcomes] == [("denied", 403)]

    custom = ask(translator, "prod/frontend", "http://orders:8080/items/7/secret")
    assert [(o.result, o.status) for o in custom.outcomes] == [("denied", 403)]
    denied = custom.destinations[0].endpoints[0].inbound
    assert denied is not None
    assert denied.reason == "denied by AuthorizationPolicy/prod/orders-ext rules[0]"
