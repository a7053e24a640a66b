"""The xDS types xdscp serves, in one table: what each is and the order and rules it obeys.

One row per type: its type URL, the protobuf message it carries, its place in the
make-before-break push order (the row order), what it depends on, and the generator
that produces it. The translator (`translators.generators`), the resource module
(`translators.resources`), the names module (`translators.naming`) and the ADS server's
ordering rules (`xdscp.server`) all read this table; adding a type is one row here and
one generator file.

Why a package of its own, with no imports: DESIGN says `xdscp/server` does not import
`translators/` and `translators/` does not import `xdscp/`, yet both must agree on the
push order and the dependencies. The rows are protocol facts (plain strings and
tuples), so they live here, where both may import them without pulling in the other;
the message class and the generator are named by dotted path and resolved only by the
translator side (`translators.resources.message_type`, `translators.generators`), so
the server never loads a protobuf module or a translator to learn the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

_PREFIX: Final = "type.googleapis.com/"


@dataclass(frozen=True, slots=True)
class XdsType:
    """One xDS resource type and the rules the server follows for it."""

    # Envoy's discovery-service abbreviation: CDS, EDS, ... (metrics, CLI columns).
    short: str
    # The protobuf message's full name; the type URL is derived from it.
    message_name: str
    # `module:Class` of the generated protobuf class (resolved by translators.resources).
    message: str
    # `module:function` producing this type's resource groups for one proxy, or "" when
    # the resources come from elsewhere (SDS secrets come from the CA, in the runtime).
    generator: str
    # SotW: the response carries the full state (absence means delete), and the type is
    # not requested by name. Delta: the first request naming nothing means wildcard.
    wildcard: bool = False
    # Types whose push may make Envoy re-create this type's watchers (a changed cluster
    # re-subscribes to its EDS assignment and secrets; a changed listener to its routes
    # and secrets): this type's next request is answered even if unchanged, or the
    # parent stays warming. Short names, earlier in the table.
    parents: tuple[str, ...] = ()
    # Resource names are `<name of a resource of this type>/<own name>` (VHDS: the route
    # configuration, then the virtual host), and Envoy listens for them only once it
    # holds that resource: the server sends them only after it, on delta streams.
    scoped_by: str = ""
    # Only served over delta xDS (Envoy refuses VHDS on a SotW ADS stream).
    delta_only: bool = False

    @property
    def type_url(self) -> str:
        return _PREFIX + self.message_name


CDS: Final = XdsType(
    short="CDS",
    message_name="envoy.config.cluster.v3.Cluster",
    message="envoy.config.cluster.v3.cluster_pb2:Cluster",
    generator="translators.generators.clusters:generate",
    wildcard=True,
)
EDS: Final = XdsType(
    short="EDS",
    message_name="envoy.config.endpoint.v3.ClusterLoadAssignment",
    message="envoy.config.endpoint.v3.endpoint_pb2:ClusterLoadAssignment",
    generator="translators.generators.endpoints:generate",
    parents=("CDS",),
)
LDS: Final = XdsType(
    short="LDS",
    message_name="envoy.config.listener.v3.Listener",
    message="envoy.config.listener.v3.listener_pb2:Listener",
    generator="translators.generators.listeners:generate",
    wildcard=True,
)
RDS: Final = XdsType(
    short="RDS",
    message_name="envoy.config.route.v3.RouteConfiguration",
    message="envoy.config.route.v3.route_pb2:RouteConfiguration",
    generator="translators.generators.routes:generate",
    parents=("LDS",),
)
# Virtual hosts one by one (VHDS): the server cuts each delta-served RDS route
# configuration into a shell (with `vhds` pointing at ADS) and one resource per virtual
# host, so one VirtualService edit sends one virtual host (xdscp/server/vhds.py). Cut
# from the translated RDS resources, so it needs no generator of its own; Envoy accepts
# it only on a delta ADS stream, and subscribes wildcard (its first request names
# nothing), per route configuration by the name prefix.
VHDS: Final = XdsType(
    short="VHDS",
    message_name="envoy.config.route.v3.VirtualHost",
    message="envoy.config.route.v3.route_components_pb2:VirtualHost",
    generator="",
    wildcard=True,
    scoped_by="RDS",
    delta_only=True,
)
SDS: Final = XdsType(
    short="SDS",
    message_name="envoy.extensions.transport_sockets.tls.v3.Secret",
    message="envoy.extensions.transport_sockets.tls.v3.secret_pb2:Secret",
    generator="",
    parents=("CDS", "LDS"),
)

# Make-before-break order within one ADS stream (DESIGN §5): the row order.
TYPES: Final[tuple[XdsType, ...]] = (CDS, EDS, LDS, RDS, VHDS, SDS)


def _check(types: tuple[XdsType, ...]) -> None:
    seen: set[str] = set()
    for row in types:
        if row.short in seen:
            raise ValueError(f"xDS type {row.short} listed twice")
        for parent in (*row.parents, *filter(None, [row.scoped_by])):
            if parent not in seen:
                raise ValueError(f"xDS type {row.short}: parent {parent} must come before it")
        seen.add(row.short)


_check(TYPES)

BY_SHORT: Final[Mapping[str, XdsType]] = MappingProxyType({t.short: t for t in TYPES})
BY_URL: Final[Mapping[str, XdsType]] = MappingProxyType({t.type_url: t for t in TYPES})
PUSH_ORDER: Final[tuple[str, ...]] = tuple(t.type_url for t in TYPES)
SHORT_TYPE_NAMES: Final[Mapping[str, str]] = MappingProxyType({t.type_url: t.short for t in TYPES})
# SotW types whose response is the full state (absence means delete).
FULL_STATE_TYPES: Final[frozenset[str]] = frozenset(
    t.type_url for t in TYPES if t.wildcard and not t.delta_only
)
# Delta types whose first request naming nothing means "everything" (legacy wildcard).
WILDCARD_TYPES: Final[frozenset[str]] = frozenset(t.type_url for t in TYPES if t.wildcard)
# type -> the types whose watchers its push may re-create, and the reverse.
PARENTS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {t.type_url: tuple(BY_SHORT[p].type_url for p in t.parents) for t in TYPES if t.parents}
)
DEPENDENTS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        parent.type_url: tuple(t.type_url for t in TYPES if parent.short in t.parents)
        for parent in TYPES
        if any(parent.short in t.parents for t in TYPES)
    }
)
# type -> the type whose resource names prefix its own (`<parent>/<name>`).
SCOPED_BY: Final[Mapping[str, str]] = MappingProxyType(
    {t.type_url: BY_SHORT[t.scoped_by].type_url for t in TYPES if t.scoped_by}
)
DELTA_ONLY_TYPES: Final[frozenset[str]] = frozenset(t.type_url for t in TYPES if t.delta_only)


def ordered(type_urls: Iterable[str]) -> list[str]:
    """`type_urls` in push order; types outside the table (rare) go last, sorted."""
    present = set(type_urls)
    known = [t for t in PUSH_ORDER if t in present]
    return known + sorted(present.difference(PUSH_ORDER))


def short_name(type_url: str) -> str:
    row = BY_URL.get(type_url)
    return row.short if row is not None else "other"


__all__ = [
    "BY_SHORT",
    "BY_URL",
    "CDS",
    "DELTA_ONLY_TYPES",
    "DEPENDENTS",
    "EDS",
    "FULL_STATE_TYPES",
    "LDS",
    "PARENTS",
    "PUSH_ORDER",
    "RDS",
    "SCOPED_BY",
    "SDS",
    "SHORT_TYPE_NAMES",
    "TYPES",
    "VHDS",
    "WILDCARD_TYPES",
    "XdsType",
    "ordered",
    "short_name",
]
