"""The VHDS cut of translated route configurations loses nothing: shell + virtual hosts,
merged as Envoy merges them, are the translated route configuration."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2, route_pb2

from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from translators.translate import MeshTranslator
from xdscp.cache import ROUTE_TYPE, make_resource
from xdscp.cache.snapshot import TypeSnapshot
from xdscp.server.vhds import VhdsCuts, scope_of


def test_shell_and_virtual_hosts_merge_back_into_the_translated_route_configuration() -> None:
    mesh = push_mesh(12, 1)
    workload = mesh.workload(NAMESPACE, client_name(0))
    assert workload is not None
    translated = MeshTranslator(mesh).translate(workload).of_type(ROUTE_TYPE)
    assert translated
    routes = TypeSnapshot.of(
        ROUTE_TYPE, [make_resource(ROUTE_TYPE, r.name, r.body(), r.provenance) for r in translated]
    )
    forms = VhdsCuts().forms(routes)
    for resource in translated:
        whole = route_pb2.RouteConfiguration.FromString(resource.body())
        shell = route_pb2.RouteConfiguration.FromString(forms.routes.resources[resource.name].body)
        assert shell.vhds.config_source.HasField("ads") and not shell.virtual_hosts
        merged = route_pb2.RouteConfiguration()
        merged.CopyFrom(shell)
        merged.ClearField("vhds")
        names = forms.scoped[resource.name]
        services = 0
        assert len(names) == len(whole.virtual_hosts)
        for name in names:
            host = forms.virtual_hosts.resources[name]
            assert scope_of(name) == resource.name
            vhost = route_components_pb2.VirtualHost.FromString(host.body)
            assert vhost.name == name
            vhost.name = name.removeprefix(f"{resource.name}/")
            merged.virtual_hosts.append(vhost)
            # blamed on its own objects (a service's host: its VirtualService, not all)
            assert host.provenance and set(host.provenance) <= set(resource.provenance)
            if vhost.name.startswith("svc-"):
                services += 1
                own = [s for s in host.provenance if s.startswith("VirtualService/")]
                assert own == [f"VirtualService/default/{vhost.name.split('.')[0]}"], own
        assert services == 12
        whole.ClearField("metadata")  # the shell leaves the provenance list out
        assert merged == whole


def test_a_route_configuration_in_parts_is_cut_as_its_bytes_and_an_edit_reads_one_part() -> None:
    """The runtime's route configuration comes in parts (one per virtual host, shared
    with the last version): cut, it gives what its joined bytes give; after one
    VirtualService edit the unchanged virtual hosts are the very resources of the last
    cut, and exactly one is new."""
    from xdscp.cache import SnapshotCache
    from xdscp.runtime import MeshRuntime

    runtime = MeshRuntime(SnapshotCache())
    cuts = VhdsCuts()
    hosts = []
    for changed in (False, True):
        mesh = push_mesh(12, 1, changed)
        runtime.apply_now(mesh)
        workload = mesh.workload(NAMESPACE, client_name(0))
        assert workload is not None
        routes = runtime.snapshot_for(workload).get(ROUTE_TYPE)
        assert any(len(r.parts) > 12 for r in routes.resources.values())  # in parts
        joined = TypeSnapshot.of(
            ROUTE_TYPE,
            [
                make_resource(ROUTE_TYPE, r.name, r.body, r.provenance)
                for r in routes.resources.values()
            ],
        )
        fresh = VhdsCuts().forms(joined)
        forms = cuts.forms(routes)
        assert forms.scoped == fresh.scoped
        assert {n: r.body for n, r in forms.virtual_hosts.resources.items()} == {
            n: r.body for n, r in fresh.virtual_hosts.resources.items()
        }
        assert {n: r.body for n, r in forms.routes.resources.items()} == {
            n: r.body for n, r in fresh.routes.resources.items()
        }
        hosts.append(forms.virtual_hosts.resources)
    before, after = hosts
    assert before.keys() == after.keys()
    new = [name for name in after if after[name] is not before[name]]
    assert len(new) == 1 and after[new[0]].version != before[new[0]].version
