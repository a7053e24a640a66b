"""Command-line flags that shape what the mesh generates, shared by `serve` and `up`:
telemetry defaults (access logs, tracing) and translator extensions.

Extensions are loaded only when named (`--extension module:object`): importing xdscp
never loads user code, and the same extension object can be used as a library.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from translators.extensions import Extension, ExtensionSet
from translators.mesh import MeshOptions
from translators.telemetry.options import STDOUT, TelemetryOptions, TracingProvider
from xdscp.jwks import JwksSettings


def _import(module_name: str) -> ModuleType:
    """A dotted module name, or a `.py` file (imported under its own name, registered in
    `sys.modules` so pydantic can resolve the models' annotations)."""
    if not module_name.endswith(".py"):
        return importlib.import_module(module_name)
    path = Path(module_name).resolve()
    name = f"xdscp_extension_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_extension(spec: str) -> Extension:
    """`package.module:name` or `path/to/file.py:name`, where `name` is an `Extension` or
    a function returning one."""
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{spec!r}: expected module:object or file.py:object")
    try:
        module = _import(module_name)
    except (ImportError, OSError) as exc:
        raise ValueError(f"{spec!r}: cannot import {module_name}: {exc}") from exc
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValueError(f"{spec!r}: {module_name} has no {attribute}")
        found = getattr(found, part)
    if not isinstance(found, Extension) and callable(found):
        found = found()
    if not isinstance(found, Extension):
        raise ValueError(f"{spec!r} is a {type(found).__name__}, not a translators Extension")
    return found


def load_extensions(specs: tuple[str, ...]) -> ExtensionSet:
    try:
        return ExtensionSet(tuple(load_extension(s) for s in specs))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--extension") from exc


@dataclass(frozen=True)
class MeshSettings:
    telemetry: TelemetryOptions = field(default_factory=TelemetryOptions)
    extensions: ExtensionSet = field(default_factory=ExtensionSet)
    jwks: JwksSettings = field(default_factory=JwksSettings)

    def mesh_options(self, **options: Any) -> MeshOptions:
        return MeshOptions(telemetry=self.telemetry, **options)


def _tracing(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if not value:
        return None
    try:
        return TracingProvider.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


extension_option = click.option(
    "--extension",
    "extension_specs",
    multiple=True,
    metavar="MODULE:OBJECT",
    help="Load a translator extension (repeatable; applied in the order given).",
)


def mesh_settings(func: Callable[..., None]) -> Callable[..., None]:
    """Add the telemetry and extension flags; the command receives `settings`."""

    @functools.wraps(func)
    def command(
        *args: Any,
        access_log: str,
        tracing: TracingProvider | None,
        tracing_sampling: float,
        extension_specs: tuple[str, ...],
        jwks_refresh: float,
        **kwargs: Any,
    ) -> None:
        telemetry = TelemetryOptions(
            access_log_path="" if access_log in ("", "off") else access_log,
            tracing=tracing,
            sampling=tracing_sampling,
        )
        # a failing IdP is retried every 10 s, or sooner when refreshes are more frequent
        jwks = JwksSettings(refresh_s=jwks_refresh, retry_s=min(10.0, jwks_refresh))
        settings = MeshSettings(telemetry, load_extensions(extension_specs), jwks)
        func(*args, settings=settings, **kwargs)

    options = [
        click.option(
            "--access-log",
            default=STDOUT,
            show_default=True,
            help="Where sidecars write JSON access logs ('off': only where a Telemetry "
            "object enables them). `xdscp up` puts each sidecar's stdout in its run dir.",
        ),
        click.option(
            "--tracing",
            callback=_tracing,
            metavar="KIND=HOST:PORT",
            help="Send spans to a collector: zipkin=HOST:PORT, otel=HOST:PORT[/path] "
            "(OTLP/HTTP) or otel-grpc=HOST:PORT.",
        ),
        click.option(
            "--tracing-sampling",
            type=click.FloatRange(0, 100),
            default=1.0,
            show_default=True,
            help="Percent of requests traced (Telemetry objects may override).",
        ),
        extension_option,
        click.option(
            "--jwks-refresh",
            type=click.FloatRange(min=0.1),
            default=JwksSettings().refresh_s,
            show_default=True,
            metavar="SECONDS",
            help="How often the keys of RequestAuthentication jwksUris are fetched again "
            "(a failed fetch keeps the last good keys).",
        ),
    ]
    wrapped: Callable[..., None] = command
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped
