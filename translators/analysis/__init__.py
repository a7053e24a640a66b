"""Mesh analysis: pure checks over a MeshConfig (and the translators' own view of it)
that explain the mistakes Envoy would only answer with a 503 or a reset.

    from translators.analysis import analyze
    for message in analyze(mesh).messages:
        print(message)            # XDS0102 (IST0101) Error VirtualService/prod/reviews ...

See `codes.py` for every message type. Everything here is pure: no I/O.
"""

from translators.analysis.codes import ALL as MESSAGE_TYPES
from translators.analysis.codes import BY_CODE
from translators.analysis.message import Message, MessageType, Severity
from translators.analysis.runner import Analysis, Check, analyze, schema_messages

__all__ = [
    "BY_CODE",
    "MESSAGE_TYPES",
    "Analysis",
    "Check",
    "Message",
    "MessageType",
    "Severity",
    "analyze",
    "schema_messages",
]
