"""Route configurations cut for VHDS: a small shell over RDS, one resource per virtual host.

Why: a route configuration holds one virtual host per service; re-sending all of it
(827 KB at 1,000 services) for one VirtualService edit makes every push proportional
to the mesh. Envoy's virtual host discovery (VHDS, delta xDS only, over ADS since Envoy
1.37) delivers virtual hosts one by one: the route configuration names a `vhds` config
source and Envoy subscribes to `VirtualHost` resources named `<route config>/<vhost>`,
merging them into that route configuration. One edit then sends one virtual host.

The cut is made here, on the serialized bytes the cache already holds, not by the
translator: every reader of translated resources (explain, proxy-config, the dashboard,
analysis, extensions' patches, SotW streams) keeps seeing the one complete route
configuration, and delta streams get exactly its content in two parts. Protobuf makes
it cheap: a RouteConfiguration is a sequence of fields; its virtual hosts are field 2,
each already encoded, so the shell is the other fields plus `vhds`, and each virtual
host is its bytes with the name set to the resource name (Envoy keys the virtual hosts
it holds by name and removes them by resource name, so the two must be equal).

Dropped from the shell: the route configuration's own `metadata` (xdscp's provenance
list of every source object): it would change with every added service and each
virtual host carries its own provenance.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, count, repeat
from operator import attrgetter, is_, is_not
from types import MappingProxyType
from typing import cast

from envoy.config.core.v3 import base_pb2, config_source_pb2

import xdstypes
from xdscp.cache import Resource, TypeSnapshot, make_resource
from xdscp.cache.snapshot import length_delimited

ROUTE_TYPE = xdstypes.RDS.type_url
VIRTUAL_HOST_TYPE = xdstypes.VHDS.type_url

# envoy.config.route.v3.RouteConfiguration / VirtualHost field numbers.
_RC_VIRTUAL_HOSTS = 2
_RC_VHDS = 9
_RC_METADATA = 17
_VH_NAME = 1
_VH_METADATA = 24
_LEN = 2  # wire type of length-delimited fields

# Vhds{config_source: {ads: {}, resource_api_version: V3}}: the virtual hosts come over
# the same (delta) ADS stream.
_VHDS_FIELD = length_delimited(
    _RC_VHDS,
    length_delimited(
        1,
        config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(),
            resource_api_version=config_source_pb2.V3,
        ).SerializeToString(deterministic=True),
    ),
)


def virtual_host_name(route_config: str, virtual_host: str) -> str:
    """VHDS's resource name of a virtual host: `<route configuration>/<virtual host>`."""
    return f"{route_config}/{virtual_host}"


def scope_of(name: str) -> str:
    """The route configuration a VHDS resource name belongs to."""
    return name.rpartition("/")[0]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(field number, start of the whole field, start of its value, end) of each
    top-level field, without decoding any value."""
    pos, end = 0, len(data)
    while pos < end:
        start = pos
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(data, pos)
            value = pos
        elif wire == 1:
            value, pos = pos, pos + 8
        elif wire == _LEN:
            size, value = _varint(data, pos)
            pos = value + size
        elif wire == 5:
            value, pos = pos, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in a route configuration")
        yield number, start, value, pos


@dataclass(frozen=True, slots=True)
class _Cut:
    shell: Resource
    virtual_hosts: tuple[Resource, ...]
    # virtual host field (framed, as in the configuration) -> its resource: reused by
    # the next version of this configuration
    by_field: Mapping[bytes, Resource]


_NAME = attrgetter("name")

# Up to this many parts read anew, their virtual hosts are spliced into the found ones
# (each splice moves the list: fine for an edit's few, not for a first cut's 10,000).
_SPLICE_MAX = 64


def _cut(config: Resource, previous: _Cut | None) -> _Cut | None:
    """`config` as a shell and its virtual hosts, or None when it has none.

    A configuration the translator assembled from its virtual hosts comes in parts, one
    per virtual host field, the unchanged ones the very bytes objects of the last
    version (their hashes cached): each is found in the last cut by a dictionary
    lookup, and only new ones are read (one edit at 10,000 services: one field, not a
    7.8 MB scan)."""
    kept: list[bytes] = []
    reuse = previous.by_field if previous is not None else {}
    parts = config.parts
    if len(parts) > 1:
        # Looked up at C speed (a Python loop over 10,000 parts was ~3 ms of every edit):
        # the virtual host fields of the last version found, None for the rest, which
        # are read below (the configuration's other fields, and new virtual hosts).
        found: list[Resource | None] = list(map(reuse.get, parts))
        known = compress(zip(parts, found, strict=True), map(is_not, found, repeat(None)))
        by_field = cast(dict[bytes, Resource], dict(known))
        unread = list(compress(count(), map(is_, found, repeat(None))))
    else:  # one body, its fields sliced out
        found, by_field, unread = [None], {}, [0]
    produced: dict[int, list[Resource]] = {}
    for at in unread:
        data = parts[at]
        produced[at] = made = []
        for number, start, value, end in _fields(data):
            if number == _RC_VIRTUAL_HOSTS:
                framed = data if start == 0 and end == len(data) else data[start:end]
                host = reuse.get(framed) or by_field.get(framed)
                if host is None:
                    host = _virtual_host(config, data[value:end])
                by_field[framed] = host
                made.append(host)
            elif number not in (_RC_METADATA, _RC_VHDS):
                kept.append(data[start:end])
    if len(unread) <= _SPLICE_MAX:  # an edit: a few parts, put in their places
        placed: list[Resource | None] = found
        for at in reversed(unread):  # each part's hosts in its place, in part order
            placed[at : at + 1] = produced[at]
        hosts = cast(list[Resource], placed)
    else:  # a first cut: every part read
        hosts = [h for at, f in enumerate(found) for h in (produced[at] if f is None else (f,))]
    if not hosts:
        return None
    kept.append(_VHDS_FIELD)
    body = b"".join(kept)
    shell = previous.shell if previous is not None else None
    if shell is None or shell.body != body or shell.provenance != config.provenance:
        shell = make_resource(ROUTE_TYPE, config.name, body, config.provenance)
    # else: the same bytes, the same object (nothing to re-send, re-diff or re-encode)
    return _Cut(shell, tuple(hosts), MappingProxyType(by_field))


def _virtual_host(config: Resource, host: bytes) -> Resource:
    rest: list[bytes] = []
    name = ""
    sources: tuple[str, ...] = ()
    for number, start, value, end in _fields(host):
        if number == _VH_NAME:
            name = host[value:end].decode()
            continue
        if number == _VH_METADATA:
            sources = _sources(host[value:end])
        rest.append(host[start:end])
    resource_name = virtual_host_name(config.name, name)
    body = length_delimited(_VH_NAME, resource_name.encode()) + b"".join(rest)
    # A NACK of a virtual host is blamed on the objects it came from (its provenance
    # metadata), else on those of its route configuration.
    return make_resource(VIRTUAL_HOST_TYPE, resource_name, body, sources or config.provenance)


def _sources(metadata: bytes) -> tuple[str, ...]:
    """The source objects a provenance metadata lists (`<filter>.sources`, a list)."""
    found: list[str] = []
    for struct in base_pb2.Metadata.FromString(metadata).filter_metadata.values():
        listed = struct.fields.get("sources")
        if listed is not None and listed.HasField("list_value"):
            found += [v.string_value for v in listed.list_value.values if v.string_value]
    return tuple(sorted(set(found)))


@dataclass(frozen=True, slots=True)
class VhdsForms:
    """What a delta stream serves for one RDS TypeSnapshot."""

    routes: TypeSnapshot  # shells (and configurations without virtual hosts, unchanged)
    virtual_hosts: TypeSnapshot  # every virtual host of every shell
    scoped: Mapping[str, tuple[str, ...]]  # shell name -> its virtual hosts' names


class VhdsCuts:
    """Shared by every delta stream: each route configuration is cut once, each RDS
    TypeSnapshot turned into its two forms once.

    Both memos are LRUs bounded in entries and in bytes: after an edit the old
    versions are garbage as soon as every stream has moved on, and a large mesh's route
    configurations are ~1 MB each, so a count alone could hold gigabytes of history."""

    __slots__ = ("_cuts", "_cuts_bytes", "_forms", "_forms_bytes", "_latest", "max_bytes",
                 "max_entries")  # fmt: skip

    def __init__(self, max_entries: int = 256, max_bytes: int = 128 * 1024 * 1024) -> None:
        self._forms: OrderedDict[int, tuple[TypeSnapshot, VhdsForms, int]] = OrderedDict()
        self._cuts: OrderedDict[tuple[str, str], tuple[_Cut | None, int]] = OrderedDict()
        self._forms_bytes = self._cuts_bytes = 0
        # route configuration name -> its latest cut, whose virtual hosts the next
        # version reuses (one edited service: one new virtual host resource)
        self._latest: dict[str, _Cut] = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def forms(self, routes: TypeSnapshot) -> VhdsForms:
        key = id(routes)
        found = self._forms.get(key)
        if found is not None and found[0] is routes:
            self._forms.move_to_end(key)
            return found[1]
        shells: list[Resource] = []
        hosts: list[Resource] = []
        scoped: dict[str, tuple[str, ...]] = {}
        size = 0
        for name, config in routes.resources.items():
            size += config.size
            cut = self._cut(config)
            if cut is None:
                shells.append(config)
                continue
            shells.append(cut.shell)
            hosts.extend(cut.virtual_hosts)
            scoped[name] = tuple(map(_NAME, cut.virtual_hosts))
        forms = VhdsForms(
            TypeSnapshot.of(ROUTE_TYPE, shells),
            TypeSnapshot.of(VIRTUAL_HOST_TYPE, hosts),
            MappingProxyType(scoped),
        )
        if found is not None:  # an id reused by a newer snapshot
            self._forms_bytes -= self._forms.pop(key)[2]
        self._forms[key] = (routes, forms, size)  # holding `routes` keeps its id unique
        self._forms_bytes += size
        while self._forms and (
            len(self._forms) > self.max_entries or self._forms_bytes > self.max_bytes
        ):
            self._forms_bytes -= self._forms.popitem(last=False)[1][2]
        return forms

    def _cut(self, config: Resource) -> _Cut | None:
        key = (config.name, config.version)
        found = self._cuts.get(key)
        if found is not None:
            self._cuts.move_to_end(key)
            return found[0]
        cut = _cut(config, self._latest.get(config.name))
        if cut is not None:
            self._latest[config.name] = cut
        size = 2 * config.size  # the shell and the virtual hosts' bodies and Anys
        self._cuts[key] = (cut, size)
        self._cuts_bytes += size
        while self._cuts and (
            len(self._cuts) > self.max_entries * 4 or self._cuts_bytes > self.max_bytes
        ):
            self._cuts_bytes -= self._cuts.popitem(last=False)[1][1]
        return cut
