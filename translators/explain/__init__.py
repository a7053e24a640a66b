"""`explain`: what Envoy will do with one request, step by step, read from the resources
the translator generates (see `explain.explain`). Library API, pure like the rest of
`translators`; the CLI (`xdscp explain`) and the debug API (`/debug/explain`) show it."""

from translators.explain.explain import explain
from translators.explain.model import Explanation, Outcome
from translators.explain.request import ExplainError, ExplainRequest, parse_request

__all__ = ["ExplainError", "ExplainRequest", "Explanation", "Outcome", "explain", "parse_request"]
