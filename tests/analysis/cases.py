"""One case per mistake: the edit to the healthy base mesh and the exact messages
(code, object, field) it must produce — and nothing else, so a check that misfires on
the neighbouring objects fails its case."""

from __future__ import annotations

from tests.analysis.meshes import SEC, Case, Doc, find, obj, service, vs_reviews, workload

VS = "VirtualService/shop/reviews"
DR = "DestinationRule/shop/reviews"


def _set_dest(docs: list[Doc], rule: int, dest: int, **fields: object) -> None:
    vs_reviews(docs)["spec"]["http"][rule]["route"][dest]["destination"].update(fields)


def _add_rule_front(docs: list[Doc], rule: Doc) -> None:
    vs_reviews(docs)["spec"]["http"].insert(0, rule)


def _dr(docs: list[Doc]) -> Doc:
    return find(docs, "DestinationRule", "reviews")


CASES: tuple[Case, ...] = (
    Case("healthy", lambda docs: None, ()),
    Case(
        "destination host typo",
        lambda docs: _set_dest(docs, 1, 1, host="reviewz"),
        (("XDS0101", VS, "spec.http[1].route[1].destination.host"),),
    ),
    Case(
        "subset no DestinationRule defines",
        lambda docs: _set_dest(docs, 1, 1, subset="v3"),
        (("XDS0102", VS, "spec.http[1].route[1].destination.subset"),),
    ),
    Case(
        "destination port not on the service",
        lambda docs: _set_dest(docs, 0, 0, port={"number": 9090}),
        (("XDS0103", VS, "spec.http[0].route[0].destination.port.number"),),
    ),
    Case(
        "multi-port destination without a port",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["route"].__setitem__(
            0, {"destination": {"host": "details"}}
        ),
        (("XDS0104", VS, "spec.http[0].route[0].destination.port"),),
        extra=(
            service(
                "details",
                "shop",
                ports=[
                    {"number": 8000, "name": "http", "protocol": "HTTP"},
                    {"number": 8001, "name": "http-admin", "protocol": "HTTP"},
                ],
            ),
            workload("details-v1", "shop", "127.0.8.9", "details", app="details"),
        ),
    ),
    Case(
        "VirtualService host typo applies to nothing",
        lambda docs: vs_reviews(docs)["spec"].update(hosts=["reveiws"]),
        (("XDS0105", VS, "spec.hosts[0]"),),
    ),
    Case(
        "DestinationRule host typo",
        lambda docs: _dr(docs)["spec"].update(host="reveiws"),
        (
            ("XDS0106", DR, "spec.host"),
            # and so the subsets the VirtualService names exist nowhere
            ("XDS0102", VS, "spec.http[0].route[0].destination.subset"),
            ("XDS0102", VS, "spec.http[1].route[0].destination.subset"),
            ("XDS0102", VS, "spec.http[1].route[1].destination.subset"),
        ),
    ),
    Case(
        "subset selects no workload",
        lambda docs: _dr(docs)["spec"]["subsets"][1].update(labels={"version": "2"}),
        (("XDS0107", DR, "spec.subsets[1].labels"),),
    ),
    Case(
        "two VirtualServices for one host",
        lambda docs: None,
        (("XDS0201", "VirtualService/shop/reviews-canary", "spec.hosts[0]"),),
        extra=(
            {
                **obj(
                    "VirtualService",
                    "reviews-canary",
                    "shop",
                    {
                        "hosts": ["reviews.shop.svc.cluster.local"],
                        "http": [{"route": [{"destination": {"host": "reviews"}}]}],
                    },
                ),
            },
        ),
    ),
    Case(
        "rule after a catch-all",
        lambda docs: _add_rule_front(
            docs, {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
        ),
        (
            ("XDS0202", VS, "spec.http[1]"),
            ("XDS0202", VS, "spec.http[2]"),
        ),
    ),
    Case(
        "catch-all prefix / match shadows later rules",
        lambda docs: _add_rule_front(
            docs,
            {
                "match": [{"uri": {"prefix": "/"}}],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ),
        (
            ("XDS0202", VS, "spec.http[1]"),
            ("XDS0202", VS, "spec.http[2]"),
        ),
    ),
    Case(
        "match block repeating an earlier one",
        lambda docs: vs_reviews(docs)["spec"]["http"].insert(
            1,
            {
                "match": [
                    {"headers": {"end-user": {"exact": "jason"}}},
                    {"uri": {"prefix": "/beta"}},
                ],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ),
        (("XDS0203", VS, "spec.http[1].match[0]"),),
    ),
    Case(
        "rule whose only match repeats an earlier one",
        lambda docs: vs_reviews(docs)["spec"]["http"].insert(
            1,
            {
                "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ),
        (
            ("XDS0203", VS, "spec.http[1].match[0]"),
            ("XDS0202", VS, "spec.http[1]"),
        ),
    ),
    Case(
        "match on a port the host does not have",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["match"][0].update(port=8080),
        (("XDS0204", VS, "spec.http[0].match[0].port"),),
    ),
    Case(
        "match on a caller that does not exist",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["match"][0].update(
            sourceLabels={"app": "frontent"}
        ),
        (("XDS0204", VS, "spec.http[0].match[0].sourceLabels"),),
    ),
    Case(
        "match on a namespace without workloads",
        lambda docs: vs_reviews(docs)["spec"]["http"][0]["match"][0].update(sourceNamespace="wbe"),
        (("XDS0204", VS, "spec.http[0].match[0].sourceNamespace"),),
    ),
    Case(
        "weight 0 leaves a destination unreachable",
        lambda docs: vs_reviews(docs)["spec"]["http"][1]["route"][1].update(weight=0),
        (("XDS0205", VS, "spec.http[1].route[1].weight"),),
    ),
)

__all__ = ["CASES", "SEC"]
