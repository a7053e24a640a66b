"""Cases for the XDS08xx messages: Istio configuration that is accepted and shown, but
not applied by the sidecars (gateway-bound parts, delegation, fields not translated yet,
UDP ports). Each is an edit of the healthy base mesh, as in `cases.py`."""

from __future__ import annotations

from tests.analysis.meshes import SEC, Case, find, obj, vs_reviews

COMPAT_CASES: tuple[Case, ...] = (
    Case(
        "VirtualService bound to an ingress gateway only",
        lambda docs: None,
        (("XDS0801", "VirtualService/shop/shop-ingress", "spec.gateways"),),
        extra=(
            obj(
                "VirtualService",
                "shop-ingress",
                "shop",
                {
                    "hosts": ["*"],
                    "gateways": ["shop/public-gateway"],
                    "http": [{"route": [{"destination": {"host": "reviews"}}]}],
                },
            ),
        ),
    ),
    Case(
        "match block bound to a gateway in a mesh VirtualService",
        lambda docs: vs_reviews(docs)["spec"]["http"].insert(
            0,
            {
                "match": [{"gateways": ["shop/public-gateway"]}],
                "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
            },
        ),
        (("XDS0801", "VirtualService/shop/reviews", "spec.http[0].match[0].gateways"),),
    ),
    Case(
        "root VirtualService delegating to a missing delegate, and a delegate rule "
        "matching outside the root rule",
        lambda docs: None,
        (
            ("XDS0802", "VirtualService/shop/ratings", "spec.http[1].delegate"),
            ("XDS0802", "VirtualService/shop/ratings-routes", "spec.http[1].match"),
        ),
        extra=(
            obj(
                "VirtualService",
                "ratings",
                "shop",
                {
                    "hosts": ["ratings"],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/api"}}],
                            "delegate": {"name": "ratings-routes", "namespace": "shop"},
                        },
                        {"match": [{"uri": {"prefix": "/old"}}], "delegate": {"name": "gone"}},
                        {"route": [{"destination": {"host": "ratings"}}]},
                    ],
                },
            ),
            obj(
                "VirtualService",
                "ratings-routes",
                "shop",
                {
                    "http": [
                        {"route": [{"destination": {"host": "ratings"}}]},
                        {
                            "match": [{"uri": {"prefix": "/other"}}],
                            "route": [{"destination": {"host": "ratings"}}],
                        },
                    ]
                },
            ),
        ),
    ),
    Case(
        "DestinationRule zoneAwareLbSetting (not translated)",
        lambda docs: find(docs, "DestinationRule", "reviews")["spec"].update(
            trafficPolicy={
                "loadBalancer": {"simple": "LEAST_REQUEST", "zoneAwareLbSetting": {"enabled": True}}
            }
        ),
        (
            (
                "XDS0803",
                "DestinationRule/shop/reviews",
                "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting",
            ),
        ),
    ),
    Case(
        "AuthorizationPolicy CUSTOM (no extension provider: denies)",
        lambda docs: None,
        (("XDS0804", "AuthorizationPolicy/shop/ext-authz", "spec.provider.name"),),
        extra=(
            obj(
                "AuthorizationPolicy",
                "ext-authz",
                "shop",
                {
                    "action": "CUSTOM",
                    "provider": {"name": "opa"},
                    "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}],
                },
                api=SEC,
            ),
        ),
    ),
    Case(
        "UDP port of a ServiceEntry",
        lambda docs: None,
        (("XDS0805", "ServiceEntry/shop/dns", "spec.ports[0].protocol"),),
        extra=(
            obj(
                "ServiceEntry",
                "dns",
                "shop",
                {
                    "hosts": ["dns.example.com"],
                    "location": "MESH_EXTERNAL",
                    "resolution": "NONE",
                    "ports": [{"number": 53, "name": "dns", "protocol": "udp"}],
                },
            ),
        ),
    ),
)

COMPAT_CASES += (
    Case(
        "WorkloadEntry with a DNS name (not a proxied workload)",
        lambda docs: None,
        (("XDS0807", "WorkloadEntry/shop/legacy-vm", "spec.address"),),
        extra=(
            obj(
                "WorkloadEntry",
                "legacy-vm",
                "shop",
                {"address": "vm1.legacy.example.com", "labels": {"app": "legacy"}},
            ),
        ),
    ),
)

__all__ = ["COMPAT_CASES", "SEC"]
