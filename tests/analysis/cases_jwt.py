"""Cases for JWT claim routes (XDS0250): a VirtualService matching `@request.auth.claims`
warns while no RequestAuthentication lets any sidecar see a claim, and is quiet once one
applies. Each is an edit of the healthy base mesh, as in `cases.py`."""

from __future__ import annotations

from tests.analysis.meshes import SEC, Case, Doc, obj, vs_reviews

VS = "VirtualService/shop/reviews"


def _claim_route(docs: list[Doc]) -> None:
    vs_reviews(docs)["spec"]["http"].insert(
        0,
        {
            "match": [{"headers": {"@request.auth.claims.group": {"exact": "admin"}}}],
            "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
        },
    )


REQUEST_AUTHENTICATION = obj(
    "RequestAuthentication",
    "idp",
    "web",
    {"jwtRules": [{"issuer": "https://idp/", "jwks": '{"keys": []}'}]},
    api=SEC,
)

JWT_CASES: tuple[Case, ...] = (
    Case(
        "claim route without any RequestAuthentication",
        _claim_route,
        (("XDS0250", VS, "spec.http[0].match[0].headers[@request.auth.claims.group]"),),
    ),
    Case(
        "claim route with the callers' RequestAuthentication",
        _claim_route,
        (),
        extra=(REQUEST_AUTHENTICATION,),
    ),
)


def _selecting(labels: dict[str, str]) -> Doc:
    selecting = obj(
        "RequestAuthentication",
        "orders-idp",
        "shop",
        # inline keys: a rule without them is resolved through the issuer's discovery document
        # at run time, which `serve` reports separately (XDS0703) when it is unreachable
        {
            "selector": {"matchLabels": labels},
            "jwtRules": [{"issuer": "https://idp/", "jwks": '{"keys": []}'}],
        },
        api=SEC,
    )
    return selecting


JWT_CASES += (
    Case(
        "RequestAuthentication selecting no workload",
        lambda docs: None,
        (("XDS0301", "RequestAuthentication/shop/orders-idp", "spec.selector.matchLabels"),),
        extra=(_selecting({"app": "review"}),),
    ),
    Case(
        "RequestAuthentication selecting a workload",
        lambda docs: None,
        (),
        extra=(_selecting({"app": "reviews"}),),
    ),
)
