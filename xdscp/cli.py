"""The `xdscp` command line.

Errors: raise `xdscp.errors.UserError` (or register your exception type in
`xdscp.cli_errors`) and the user sees one line and exit code 1, never a traceback;
every command gets `-h`/`--help`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import yaml

from ca.pemfiles import replace_file
from translators.mesh import MeshOptions
from xdscp.bootstrap import bootstrap_config
from xdscp.cli_analyze import analyze_command, print_analysis_warnings
from xdscp.cli_describe import describe
from xdscp.cli_errors import HygienicGroup
from xdscp.cli_explain import explain_command
from xdscp.cli_mesh import MeshSettings, extension_option, load_extensions, mesh_settings
from xdscp.cli_proxy_config import proxy_config
from xdscp.cli_proxy_status import proxy_status
from xdscp.debug.auth import TOKEN_ENV, check_exposure, load_token
from xdscp.errors import UserError
from xdscp.identity import IdentityService, IdentitySettings
from xdscp.logging import configure_logging
from xdscp.service import ControlPlane, split_address
from xdscp.sources.blame import translation_errors
from xdscp.sources.files import DirectorySource

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@click.group(cls=HygienicGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xdscp", prog_name="xdscp")
@click.option("--log-json", is_flag=True, help="JSON log lines instead of console format.")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
)
def main(log_json: bool, log_level: str) -> None:
    """xdscp: a readable service-mesh control plane for stock Envoy."""
    configure_logging(log_json, log_level)


def _signalled() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM from now on (instead of KeyboardInterrupt, or
    asyncio's cancelling of the main task, which code on the way may swallow)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


# a start that was cancelled gets this long to stop what it had started
START_CANCEL_WAIT_S = 10.0


async def _started_unless_stopped(start: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `start` unless `stop` is set first; then it is cancelled (bounded wait for it to
    unwind). True when it completed; its failure is raised."""
    starting = asyncio.ensure_future(start)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.wait({starting}, timeout=START_CANCEL_WAIT_S)
    if starting.done() and not starting.cancelled():
        starting.result()  # its failure, if it failed
        return not stop.is_set()
    return False


async def _let_pending_tasks_finish(timeout: float = 2.0) -> None:
    """After a stop, give gRPC's own call tasks a moment to end: the ones still pending
    when `asyncio.run` returns are cancelled, and gRPC prints their CancelledError as a
    traceback (Ctrl-C with proxies connected)."""
    pending = asyncio.all_tasks() - {asyncio.current_task()}
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def identity_options(func: Callable[..., None]) -> Callable[..., None]:
    """CA and identity flags shared by serve, up and bootstrap."""
    options = [
        click.option(
            "--ca-dir",
            type=click.Path(path_type=Path),
            default=Path(".xdscp/ca"),
            show_default=True,
            help="Where the mesh root CA is kept (created once, then always reused).",
        ),
        click.option(
            "--cacerts",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Plug in an intermediate CA in Istio's cacerts layout instead.",
        ),
        click.option(
            "--svid-ttl",
            type=float,
            default=24 * 3600.0,
            show_default=True,
            help="Workload certificate lifetime in seconds (rotated at half).",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="Plaintext xDS, no proxy authentication. Debugging only: unsafe.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _identity(ca_dir: Path, cacerts: Path | None, svid_ttl: float) -> IdentitySettings:
    return IdentitySettings(
        ca_dir=ca_dir, cacerts_dir=cacerts, svid_ttl=timedelta(seconds=svid_ttl)
    )


def _host_port(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A HOST:PORT option checked up front, so a typo is a usage error, not a bind failure
    later. `--debug ""` / `--cert-listen ""` switch that listener off."""
    if value == "" and param.name in ("debug", "cert_listen"):
        return value
    if param.name == "xds" and ":" not in value:
        return value  # a bare host: the default xDS port
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (port 0-65535; 0 = any free port)")
    return value


debug_token_file = click.option(
    "--debug-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Bearer token for the debug port (or ${TOKEN_ENV}); required when --debug is "
    "not a loopback address.",
)


def _debug_token(debug: str, token_file: Path | None) -> str | None:
    """The debug token, refusing a debug port open to the network without one."""
    token = load_token(token_file)
    if debug:
        check_exposure(debug, token)
    return token


config_dir = click.option(
    "--config",
    "config",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="Directory of Istio YAML (watched).",
)


@main.command()
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, path_type=Path),
    help="Directory of Istio YAML (watched); not with --kubernetes.",
)
@click.option(
    "--listen",
    default="127.0.0.1:15010",
    show_default=True,
    callback=_host_port,
    help="ADS gRPC address.",
)
@click.option("--debug", "debug", default="127.0.0.1:15014", show_default=True, callback=_host_port)
@click.option(
    "--kubernetes",
    is_flag=True,
    help="Watch the cluster instead of a directory; CA in a Secret, leader-elected writes.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --kubernetes: this kubeconfig (default: in-cluster, else ~/.kube/config).",
)
@click.option(
    "--cert-listen",
    default="127.0.0.1:15012",
    callback=_host_port,
    show_default=True,
    help="With --kubernetes: the sidecar bootstrap-certificate endpoint (HTTPS); "
    "in a cluster set it to 0.0.0.0:15012 as deploy/control-plane.yaml does.",
)
@click.option(
    "--parse-cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep parsed config files in FILE (mode 0600, kept up to date while serving) so "
    "the next start parses only files that changed.",
)
@debug_token_file
@identity_options
@mesh_settings
def serve(
    config: Path | None,
    listen: str,
    debug: str,
    kubernetes: bool,
    kubeconfig: Path | None,
    cert_listen: str,
    parse_cache: Path | None,
    debug_token_file: Path | None,
    ca_dir: Path,
    cacerts: Path | None,
    svid_ttl: float,
    insecure: bool,
    settings: MeshSettings,
) -> None:
    """Run the control plane (mutual TLS on the xDS port unless --insecure)."""
    token = _debug_token(debug, debug_token_file)
    if insecure:
        click.secho("WARNING: --insecure: plaintext, unauthenticated xDS", fg="red", err=True)
    if kubernetes:
        if config is not None or cacerts is not None:
            raise click.UsageError(
                "--kubernetes reads config and CA from the cluster (no --config/--cacerts)"
            )
        if settings.extensions.extensions:
            raise click.UsageError("--extension is not supported with --kubernetes yet")
        _serve_kubernetes(
            kubeconfig, listen, debug, token, cert_listen, ca_dir, svid_ttl, insecure, settings
        )
        return
    if config is None:
        raise click.UsageError("give --config DIR (or --kubernetes)")

    async def run() -> bool:
        """False when Ctrl-C (or SIGTERM) came before the plane was serving."""
        stop = _signalled()  # from the first moment: the initial load takes seconds
        plane = _file_control_plane(
            config,
            listen,
            debug,
            token,
            _identity(ca_dir, cacerts, svid_ttl),
            insecure,
            settings,
            parse_cache=parse_cache,
        )
        try:
            if not await _started_unless_stopped(plane.start(), stop):
                return False
            await stop.wait()
            return True
        finally:
            await plane.stop()
            await _let_pending_tasks_finish()

    if not asyncio.run(run()):
        raise KeyboardInterrupt  # interrupted while starting: "interrupted", exit 130


def _file_control_plane(
    config: Path,
    listen: str,
    debug: str,
    debug_token: str | None,
    identity: IdentitySettings,
    insecure: bool,
    settings: MeshSettings,
    parse_cache: Path | None = None,
) -> ControlPlane:
    """The control plane `serve` and `up` run on a directory of YAML."""
    return ControlPlane(
        config,
        listen,
        debug,
        debug_token=debug_token,
        identity_settings=identity,
        insecure=insecure,
        options=settings.mesh_options(local_mode=True),
        extensions=settings.extensions,
        jwks_settings=settings.jwks,
        parse_cache=parse_cache,
    )


def _serve_kubernetes(
    kubeconfig: Path | None,
    listen: str,
    debug: str,
    debug_token: str | None,
    cert_listen: str,
    ca_dir: Path,
    svid_ttl: float,
    insecure: bool,
    settings: MeshSettings,
) -> None:
    """The CA Secret is materialised under `ca_dir` (memory-backed in the Deployment)."""
    from xdscp.kube.plane import KubeControlPlane, KubeSettings

    _require_kube_config(kubeconfig)

    async def run() -> bool:
        """False when Ctrl-C (or SIGTERM) came before the plane was serving."""
        stop = _signalled()  # from the first moment, as `serve --config` and `up`
        await _reach_cluster(kubeconfig)
        plane = KubeControlPlane(
            KubeSettings(
                kubeconfig=kubeconfig,
                listen=listen,
                debug_listen=debug or None,
                debug_token=debug_token,
                cert_listen=cert_listen or None,
                ca_dir=ca_dir,
                svid_ttl=timedelta(seconds=svid_ttl),
                insecure=insecure,
                options=settings.mesh_options(),
                jwks=settings.jwks,
            )
        )
        try:
            if not await _started_unless_stopped(plane.start(), stop):
                return False
            await stop.wait()
            return True
        finally:
            await plane.stop()
            await _let_pending_tasks_finish()

    if not asyncio.run(run()):
        raise KeyboardInterrupt  # interrupted while starting: "interrupted", exit 130


def _require_kube_config(kubeconfig: Path | None) -> None:
    """Say plainly that there is no cluster to talk to, before the client library
    fails on a missing file with a confusing message."""
    if kubeconfig is not None or os.environ.get("KUBERNETES_SERVICE_HOST"):
        return
    candidates = [
        Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p
    ] or [Path("~/.kube/config").expanduser()]
    if not any(path.is_file() for path in candidates):
        raise UserError(
            "no Kubernetes configuration: not inside a cluster and no kubeconfig at "
            + ", ".join(str(path) for path in candidates),
            "pass --kubeconfig FILE or set KUBECONFIG",
        )


async def _reach_cluster(kubeconfig: Path | None) -> None:
    """One quick call, so an unreachable or refusing API server is a clear error at
    start instead of watches retrying in the background."""
    from xdscp.kube.api import KubeApi
    from xdscp.kube.errors import Forbidden, KubeUnavailable

    api = await KubeApi.connect(kubeconfig)
    server = api.client.configuration.host
    try:
        response = await api.open("GET", "/api/v1/namespaces", [("limit", "1")], timeout=10)
        response.release()
    except KubeUnavailable as exc:
        raise UserError(
            f"cannot reach the Kubernetes API server at {server} ({exc.__cause__ or exc})",
            "check that the cluster is up and --kubeconfig/KUBECONFIG point to it",
        ) from None
    except Forbidden as exc:
        raise UserError(
            f"the Kubernetes API server at {server} refused our credentials ({exc})",
            "check the kubeconfig user, or the control plane's RBAC (deploy/rbac.yaml)",
        ) from None
    finally:
        await api.close()


@main.command()
@config_dir
@click.option("--workload", required=True, help="NAMESPACE/NAME of the WorkloadEntry.")
@click.option("--xds", default="127.0.0.1:15010", show_default=True, callback=_host_port)
@click.option("--admin-port", default=15000, show_default=True, type=int)
@click.option("-o", "output", type=click.Path(path_type=Path), required=True)
@click.option(
    "--delta",
    is_flag=True,
    help="Sidecars use incremental (delta) xDS: a VirtualService edit then sends one "
    "virtual host (VHDS), not the whole route configuration.",
)
@identity_options
def bootstrap(
    config: Path,
    workload: str,
    xds: str,
    admin_port: int,
    output: Path,
    delta: bool,
    ca_dir: Path,
    cacerts: Path | None,
    svid_ttl: float,
    insecure: bool,
) -> None:
    """Write an Envoy bootstrap for one workload's sidecar, and (unless --insecure) its
    xDS client certificate, key and the mesh root next to it (mode 0600), named after
    the bootstrap: `-o DIR/a.yaml` writes DIR/a.xds-client-cert.pem and so on."""
    mesh = DirectorySource(config, MeshOptions(local_mode=True)).load()
    namespace, _, name = workload.rpartition("/")
    found = mesh.workload(namespace or "default", name)
    if found is None:
        known = ", ".join(sorted(mesh.workloads)) or "none"
        raise click.ClickException(f"no WorkloadEntry {workload} in {config} (known: {known})")
    host, port = split_address(xds, 15010)
    credentials = None
    if not insecure:
        identity = IdentityService(_identity(ca_dir, cacerts, svid_ttl))
        credentials = identity.write_bootstrap_credentials(
            found, output.parent, prefix=f"{output.stem}."
        )
    rendered = yaml.safe_dump(
        bootstrap_config(found, host, port, admin_port, credentials=credentials, delta=delta),
        sort_keys=False,
    )
    replace_file(output, rendered, mode=0o644)
    click.echo(f"wrote {output} for {found.key}")
    for path in (credentials or {}).values():
        click.echo(f"wrote {path}")


@main.command()
@click.argument("directory", type=click.Path(exists=True, path_type=Path))
@extension_option
def validate(directory: Path, extension_specs: tuple[str, ...]) -> None:
    """Check a directory of mesh YAML; list every error; exit 1 if any."""
    extensions = load_extensions(extension_specs)
    mesh = DirectorySource(
        directory, MeshOptions(local_mode=True), log_errors=False, kinds=extensions.kinds()
    ).load()
    # what validation cannot see: objects that break translating a sidecar's config
    untranslatable = translation_errors(mesh, extensions)
    errors = [*mesh.errors, *untranslatable]
    for error in errors:
        click.echo(str(error), err=True)
    valid = len(mesh.objects) - len({e.ref for e in untranslatable if e.kind != "WorkloadEntry"})
    click.echo(f"{valid} objects valid, {len(errors)} errors")
    print_analysis_warnings(mesh)
    sys.exit(1 if errors else 0)


@main.command()
@click.argument("directory", type=click.Path(exists=True, path_type=Path))
@click.option("--listen", default="127.0.0.1:15010", show_default=True, callback=_host_port)
@click.option("--debug", "debug", default="127.0.0.1:15014", show_default=True, callback=_host_port)
@debug_token_file
@click.option("--state", type=click.Path(path_type=Path), help="Write the workload table as JSON.")
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    default=Path(".xdscp/run"),
    show_default=True,
    help="Where sidecar bootstraps and logs go.",
)
@click.option(
    "--delta",
    is_flag=True,
    help="Sidecars use incremental (delta) xDS: a VirtualService edit then sends one "
    "virtual host (VHDS), not the whole route configuration.",
)
@identity_options
@mesh_settings
def up(
    directory: Path,
    listen: str,
    debug: str,
    debug_token_file: Path | None,
    state: Path | None,
    run_dir: Path,
    delta: bool,
    ca_dir: Path,
    cacerts: Path | None,
    svid_ttl: float,
    insecure: bool,
    settings: MeshSettings,
) -> None:
    """Run a local mesh: control plane, one Envoy sidecar and demo app per workload."""
    from xdscp.local.mesh import LocalMesh, render_table

    token = _debug_token(debug, debug_token_file)

    async def run() -> bool:
        """False when Ctrl-C (or SIGTERM) came before the mesh was up."""
        # from the first moment: a Ctrl-C while the sidecars start (asyncio's cancelling
        # of the main task) could be swallowed on the way and leave `up` running
        stop = _signalled()
        plane = _file_control_plane(
            directory,
            listen,
            debug,
            token,
            _identity(ca_dir, cacerts, svid_ttl),
            insecure,
            settings,
        )
        local = LocalMesh(plane, run_dir, delta=delta)

        async def start() -> None:
            await plane.start()
            await local.start()

        try:
            if not await _started_unless_stopped(start(), stop):
                return False
            snapshot = local.state()
            click.echo(render_table(snapshot))
            click.echo(f"\ncontrol plane {snapshot['xds']}, debug {snapshot['debug']}")
            click.echo(f"edit {directory} and Envoy follows; Ctrl-C stops everything.")
            if state is not None:
                local.write_state(state)
            await stop.wait()
            return True
        finally:
            with contextlib.suppress(Exception):
                await local.stop()
            await plane.stop()
            await _let_pending_tasks_finish()
            if state is not None:
                state.unlink(missing_ok=True)

    if not asyncio.run(run()):
        raise KeyboardInterrupt  # interrupted while starting: "interrupted", exit 130


@main.command()
def crds() -> None:
    """Print the CustomResourceDefinitions of the supported Istio kinds (generated from
    the models): `xdscp crds > deploy/crds.yaml`."""
    from xdscp.kube.crds import render_crds

    click.echo(render_crds(), nl=False)


@main.command()
@click.option(
    "-f",
    "--filename",
    "filename",
    type=click.File("r"),
    required=True,
    help="Workload YAML to inject ('-' for stdin).",
)
@click.option("--envoy-image", default="envoyproxy/envoy:v1.31-latest", show_default=True)
@click.option("--init-image", default="xdscp:dev", show_default=True)
@click.option(
    "--control-plane",
    default="xdscp.xdscp-system.svc",
    show_default=True,
    help="DNS name of the xdscp Service.",
)
def inject(filename: Any, envoy_image: str, init_image: str, control_plane: str) -> None:
    """Add the mesh sidecar to every pod template in a manifest (like istioctl kube-inject)."""
    from xdscp.kube.inject import InjectSettings, inject_yaml

    settings = InjectSettings(
        envoy_image=envoy_image, init_image=init_image, control_plane=control_plane
    )
    source = getattr(filename, "name", "<stdin>")
    click.echo(inject_yaml(filename.read(), settings, source), nl=False)


main.add_command(analyze_command)
main.add_command(explain_command)
main.add_command(proxy_status)
main.add_command(proxy_config)
main.add_command(describe)

if __name__ == "__main__":
    main()
