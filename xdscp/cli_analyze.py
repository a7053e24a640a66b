"""`xdscp analyze`: the mesh's mistakes in one command, as a table, JSON or YAML.

The messages come from `translators.analysis` — the same ones `xdscp serve` shows at
`/debug/analysis`, counts in `/metrics` and writes to Kubernetes status.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
import yaml

from translators.analysis import Analysis, Message, Severity, analyze
from translators.mesh import MeshConfig, MeshOptions
from xdscp.cli_mesh import extension_option, load_extensions
from xdscp.sources.files import DirectorySource

FAIL_ON = ("error", "warning", "info", "never")


def load_directory(directory: Path, extension_specs: tuple[str, ...] = ()) -> MeshConfig:
    kinds = load_extensions(extension_specs).kinds()
    return DirectorySource(
        directory, MeshOptions(local_mode=True), log_errors=False, kinds=kinds
    ).load()


def load_cluster(kubeconfig: Path | None, timeout: float = 60.0) -> MeshConfig:
    """One complete MeshConfig from the cluster (list every type once), then disconnect."""
    from xdscp.kube.api import KubeApi
    from xdscp.kube.errors import KubeError
    from xdscp.sources.kubernetes import KubernetesSource

    async def load() -> MeshConfig:
        api = await KubeApi.connect(kubeconfig)
        source = KubernetesSource(api, MeshOptions(), log_errors=False)
        try:
            await source.start(sync_timeout=timeout)
            return source.load()
        finally:
            await source.close()
            await api.close()

    try:
        return asyncio.run(load())
    except KubeError as exc:
        raise click.ClickException(f"cannot read the cluster: {exc}") from None
    except Exception as exc:  # kubeconfig missing / unreadable: say so, no traceback
        raise click.ClickException(
            f"cannot connect to Kubernetes ({type(exc).__name__}: {exc}); "
            "give --kubeconfig FILE or run inside the cluster"
        ) from None


def _object(message: Message) -> str:
    return message.ref if message.kind else str(message.origin or "")


def render_table(analysis: Analysis) -> str:
    """CODE, SEVERITY, OBJECT, FIELD, MESSAGE, one row per message (never wrapped, so
    it greps); under each row, indented, its fix, Istio's code and where it is written."""
    if not analysis.messages:
        return "No problems found."
    rows = [
        (m.code, m.severity.label, _object(m), m.field or "-", m.text) for m in analysis.messages
    ]
    header = ("CODE", "SEVERITY", "OBJECT", "FIELD", "MESSAGE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return (
            "  ".join(c.ljust(w) for c, w in zip(cells[:4], widths, strict=True)) + "  " + cells[4]
        )

    lines = [line(header)]
    for message, row in zip(analysis.messages, rows, strict=True):
        lines.append(line(row))
        lines.append(f"    fix: {message.hint}")
        details = []
        if message.type.istio_code:
            details.append(f"istio: {message.type.istio_code} {message.type.name}")
        if message.origin is not None and message.kind:
            details.append(f"in: {message.origin}")
        if message.related:
            details.append(f"see: {', '.join(message.related)}")
        if details:
            lines.append("    " + "   ".join(details))
    return "\n".join(lines)


def summary(analysis: Analysis) -> str:
    counts = {s: 0 for s in Severity}
    for message in analysis.messages:
        counts[message.severity] += 1
    parts = [
        f"{n} {s.name.lower()}{'s' if n != 1 else ''}"
        for s, n in sorted(counts.items(), reverse=True)
        if n
    ]
    total = len(analysis.messages)
    noun = "message" if total == 1 else "messages"
    return f"{total} {noun}: {', '.join(parts)}" if parts else "0 messages"


def exit_code(analysis: Analysis, fail_on: str) -> int:
    """1 when a message is at least as severe as `fail_on` (`never`: always 0)."""
    worst = analysis.worst
    if fail_on == "never" or worst is None:
        return 0
    return 1 if worst >= Severity.parse(fail_on) else 0


def print_analysis_warnings(mesh: MeshConfig) -> None:
    """`xdscp validate`'s addendum: the analysis, as warnings that do not fail it."""
    analysis = analyze(mesh)
    for message in analysis.messages:
        click.echo(f"warning: {message}", err=True)
        click.echo(f"  fix: {message.hint}", err=True)
    if analysis.messages:
        click.echo(f"analysis: {summary(analysis)} (see `xdscp analyze`)")


@click.command("analyze")
@click.argument(
    "directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--kubernetes", is_flag=True, help="Analyze the cluster's mesh instead of DIRECTORY.")
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --kubernetes: this kubeconfig (default: in-cluster, else ~/.kube/config).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="error",
    show_default=True,
    help="Exit 1 when a message is at least this severe.",
)
@extension_option
def analyze_command(
    directory: Path | None,
    kubernetes: bool,
    kubeconfig: Path | None,
    output: str,
    fail_on: str,
    extension_specs: tuple[str, ...],
) -> None:
    """Find the mistakes that pass validation but break traffic (wrong hosts, missing
    subsets, shadowed VirtualServices, mTLS conflicts, ...): one line each, with a fix.
    Schema errors are included (XDS0002)."""
    if kubernetes == (directory is not None):
        raise click.UsageError("give a DIRECTORY or --kubernetes (one of them)")
    if kubernetes:
        mesh = load_cluster(kubeconfig)
    else:
        assert directory is not None
        mesh = load_directory(directory, extension_specs)
    analysis = analyze(mesh, include_schema=True)
    if output == "json":
        click.echo(json.dumps(analysis.as_json(), indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(analysis.as_json(), sort_keys=False), nl=False)
    else:
        click.echo(render_table(analysis))
        if analysis.messages:
            click.echo(f"\n{summary(analysis)}")
    sys.exit(exit_code(analysis, fail_on))
