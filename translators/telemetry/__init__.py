"""Sidecar telemetry: JSON access logs and tracing on every HTTP connection manager,
from mesh-wide `TelemetryOptions` tuned by Istio `Telemetry` objects.

Submodules are imported directly (`translators.telemetry.resolve`, `.envoy`): this
package imports nothing itself, because the IR (`translators.ir.telemetry`) imports
`translators.telemetry.options` while the resolver depends on the IR.
"""
