"""Analysis cases for gateways: a host no server of the bound Gateway takes (IST0132), and
a binding to a Gateway that does not exist (IST0101)."""

from __future__ import annotations

from tests.analysis.meshes import Case, obj

GATEWAY = obj(
    "Gateway",
    "public",
    "shop",
    {
        "selector": {"istio": "ingressgateway"},
        "servers": [
            {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": ["shop/shop.example.com"],
            }
        ],
    },
)


def _ingress_vs(hosts: list[str], gateways: list[str]) -> dict[str, object]:
    return obj(
        "VirtualService",
        "shop-ingress",
        "shop",
        {
            "hosts": hosts,
            "gateways": gateways,
            "http": [{"route": [{"destination": {"host": "reviews"}}]}],
        },
    )


GATEWAY_CASES: tuple[Case, ...] = (
    Case(
        "VirtualService bound to an existing Gateway that serves its host",
        lambda docs: None,
        (),
        extra=(GATEWAY, _ingress_vs(["shop.example.com"], ["public"])),
    ),
    Case(
        "VirtualService host on no server of its Gateway",
        lambda docs: None,
        (("XDS0901", "VirtualService/shop/shop-ingress", "spec.hosts[1]"),),
        extra=(GATEWAY, _ingress_vs(["shop.example.com", "admin.example.com"], ["shop/public"])),
    ),
)
