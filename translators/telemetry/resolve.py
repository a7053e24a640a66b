"""Which telemetry a workload's sidecar gets, per direction: the mesh-wide options,
then `Telemetry` objects from the root namespace, the workload's namespace, and
those whose selector picks the workload — each level overriding only the fields it
sets, as Istio merges them.

Within a level the oldest object wins (Istio's tie-break) and the others are
reported. `CLIENT` entries tune the outbound listeners, `SERVER` the inbound ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from translators.ir import Direction, ListenerIR
from translators.ir.telemetry import (
    AccessLogIR,
    CustomTagIR,
    CustomTagKind,
    TelemetryIR,
    TracingIR,
)
from translators.mesh import MeshConfig, Workload
from translators.model.objects import MeshObject, age_order
from translators.model.telemetry import ModeSelector, TelemetrySpec, WorkloadMode
from translators.naming import TELEMETRY_KIND, tracing_cluster
from translators.telemetry.options import (
    ACCESS_LOG_PROVIDER,
    STDOUT,
    TelemetryOptions,
    TracingKind,
    TracingProvider,
)

# Istio's canonical-service label, then the usual `app` label, name a workload in traces.
CANONICAL_NAME_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")

_MODES = {
    Direction.OUTBOUND: WorkloadMode.CLIENT,
    Direction.INBOUND: WorkloadMode.SERVER,
}


def _applies(match: ModeSelector | None, direction: Direction) -> bool:
    mode = match.mode if match is not None else WorkloadMode.CLIENT_AND_SERVER
    return mode in (WorkloadMode.CLIENT_AND_SERVER, _MODES[direction])


def service_name(workload: Workload) -> str:
    base = next(
        (workload.labels[k] for k in CANONICAL_NAME_LABELS if workload.labels.get(k)),
        workload.name,
    )
    return f"{base}.{workload.namespace}"


@dataclass(frozen=True, slots=True)
class WorkloadTelemetry:
    """The outcome for one workload: its listeners' telemetry and what to warn about."""

    outbound: TelemetryIR | None
    inbound: TelemetryIR | None
    warnings: tuple[str, ...] = ()

    def for_direction(self, direction: Direction) -> TelemetryIR | None:
        return self.outbound if direction is Direction.OUTBOUND else self.inbound

    def attach(self, listeners: Iterable[ListenerIR]) -> tuple[ListenerIR, ...]:
        """The listeners with their telemetry set (unchanged objects when there is none,
        so listener memos keep hitting)."""
        out = []
        for listener in listeners:
            telemetry = self.for_direction(listener.direction)
            out.append(
                listener
                if telemetry == listener.telemetry
                else replace(listener, telemetry=telemetry)
            )
        return tuple(out)

    def collectors(self) -> tuple[TracingProvider, ...]:
        """The span collectors this workload's listeners send to (each needs a cluster)."""
        found = {
            t.tracing.provider: None
            for t in (self.outbound, self.inbound)
            if t is not None and t.tracing is not None
        }
        return tuple(found)


class TelemetryIndex:
    """Telemetry objects of one MeshConfig by level; built once per generation."""

    def __init__(self, mesh: MeshConfig) -> None:
        self.options: TelemetryOptions = mesh.options.telemetry
        # Only OpenTelemetry puts the workload's name in the config (Zipkin spans take it
        # from the node), so otherwise every workload of a level shares one result.
        tracing = self.options.tracing
        self._named = tracing is not None and tracing.kind is TracingKind.OPENTELEMETRY
        self.root_namespace = mesh.options.root_namespace
        # namespace -> problems with its Telemetry objects (shown to its proxies)
        self.warnings: dict[str, list[str]] = defaultdict(list)
        namespace_wide: dict[str, list[MeshObject[TelemetrySpec]]] = defaultdict(list)
        selecting: dict[str, list[MeshObject[TelemetrySpec]]] = defaultdict(list)
        for obj in sorted(mesh.of_kind(TELEMETRY_KIND), key=age_order):
            spec: TelemetrySpec = obj.spec
            if spec.target_ref is not None or spec.target_refs:
                self.warnings[obj.namespace].append(
                    f"{obj.ref}: targetRef applies to gateways and waypoints; "
                    "not translated for sidecars"
                )
                continue
            if spec.metrics:
                self.warnings[obj.namespace].append(
                    f"{obj.ref}: metrics overrides are not translated (Envoy's native "
                    "stats are always served on the Prometheus port)"
                )
            if spec.selector is None:
                namespace_wide[obj.namespace].append(obj)
            else:
                selecting[obj.namespace].append(obj)
        self._namespace_wide = dict(namespace_wide)
        self._selecting = dict(selecting)
        self._cache: dict[tuple[object, ...], WorkloadTelemetry] = {}

    def candidates(self, workload: Workload) -> list[list[MeshObject[TelemetrySpec]]]:
        """Per level (root namespace, workload namespace, selecting), least specific first,
        the Telemetry objects that claim the workload, oldest first: the first of each
        level applies, the others are ignored (the analysis reports them)."""
        return [
            self._namespace_wide.get(self.root_namespace, []),
            self._namespace_wide.get(workload.namespace, [])
            if workload.namespace != self.root_namespace
            else [],
            [
                o
                for o in self._selecting.get(workload.namespace, [])
                if o.spec.selector is not None and o.spec.selector.matches(workload.labels)
            ],
        ]

    def levels(self, workload: Workload) -> tuple[list[MeshObject[TelemetrySpec]], list[str]]:
        """The Telemetry objects that apply, least specific first, and the ignored ones."""
        chosen: list[MeshObject[TelemetrySpec]] = []
        warnings: list[str] = []
        for level in self.candidates(workload):
            if level:
                chosen.append(level[0])
                warnings += [
                    f"{o.ref}: ignored for {workload.key}; older {level[0].ref} applies"
                    for o in level[1:]
                ]
        return chosen, warnings

    def for_workload(self, workload: Workload) -> WorkloadTelemetry:
        levels, warnings = self.levels(workload)
        key = (tuple(id(o) for o in levels), service_name(workload) if self._named else "")
        found = self._cache.get(key)
        if found is None:
            extra: list[str] = []
            found = WorkloadTelemetry(
                self._resolve(levels, Direction.OUTBOUND, key[1], extra),
                self._resolve(levels, Direction.INBOUND, key[1], extra),
                tuple(dict.fromkeys(extra)),
            )
            self._cache[key] = found
        warnings += self.warnings.get(self.root_namespace, [])
        if workload.namespace != self.root_namespace:
            warnings += self.warnings.get(workload.namespace, [])
        if warnings:
            found = replace(found, warnings=found.warnings + tuple(warnings))
        return found

    def _resolve(
        self,
        levels: list[MeshObject[TelemetrySpec]],
        direction: Direction,
        name: str,
        warnings: list[str],
    ) -> TelemetryIR | None:
        options = self.options
        log_on = bool(options.access_log_path)
        log_filter = ""
        provider = options.tracing
        trace_on = provider is not None
        sampling = options.sampling
        tags: dict[str, CustomTagIR] = {}
        use_request_id = True
        sources: list[str] = []
        for obj in levels:
            spec = obj.spec
            for log_entry in spec.access_logging:
                if not _applies(log_entry.match, direction):
                    continue
                sources.append(obj.ref)
                names = [p.name for p in log_entry.providers]
                unknown = [n for n in names if n != ACCESS_LOG_PROVIDER]
                if unknown:
                    warnings.append(
                        f"{obj.ref}: access log providers {unknown} unknown "
                        f"(only {ACCESS_LOG_PROVIDER!r}, Envoy's file log)"
                    )
                if names and not set(names) - set(unknown):
                    continue  # names only providers we do not have: leave as is
                log_on = not log_entry.disabled if log_entry.disabled is not None else True
                if log_entry.filter is not None:
                    log_filter = log_entry.filter.expression
            for trace_entry in spec.tracing:
                if not _applies(trace_entry.match, direction):
                    continue
                sources.append(obj.ref)
                if trace_entry.providers:
                    wanted = trace_entry.providers[0].name
                    named = options.provider(wanted)
                    if named is None:
                        warnings.append(
                            f"{obj.ref}: tracing provider {wanted!r} is not configured "
                            "(xdscp serve --tracing)"
                        )
                    else:
                        provider, trace_on = named, True
                if trace_entry.random_sampling_percentage is not None:
                    sampling = trace_entry.random_sampling_percentage
                if trace_entry.disable_span_reporting is not None:
                    trace_on = not trace_entry.disable_span_reporting
                if trace_entry.use_request_id_for_trace_sampling is not None:
                    use_request_id = trace_entry.use_request_id_for_trace_sampling
                for tag, custom in trace_entry.custom_tags.items():
                    if custom.literal is not None:
                        tags[tag] = CustomTagIR(tag, CustomTagKind.LITERAL, custom.literal.value)
                    elif custom.environment is not None:
                        env = custom.environment
                        tags[tag] = CustomTagIR(
                            tag, CustomTagKind.ENVIRONMENT, env.name, env.default_value
                        )
                    elif custom.header is not None:
                        header = custom.header
                        tags[tag] = CustomTagIR(
                            tag, CustomTagKind.HEADER, header.name, header.default_value
                        )
                    elif custom.formatter is not None:
                        tags[tag] = CustomTagIR(
                            tag, CustomTagKind.FORMATTER, custom.formatter.value
                        )
        access_log = AccessLogIR(options.access_log_path or STDOUT, log_filter) if log_on else None
        tracing = None
        if trace_on and provider is not None:
            tracing = TracingIR(
                provider,
                tracing_cluster(provider.provider_name),
                name,
                sampling,
                tuple(tags[k] for k in sorted(tags)),
                use_request_id,
            )
        if access_log is None and tracing is None:
            return None
        return TelemetryIR(access_log, tracing, tuple(dict.fromkeys(sources)))
