"""The translators' exception tree (see the README, "Errors").

::

    XdscpError                    (ca.xdscp_error; the project-wide root)
    └── TranslatorError           raised by the translator library
        ├── FieldValueError       a check of an object blames one field (also ValueError)
        ├── ExtensionError        an extension failed for one proxy
        ├── ExplainError          explain cannot answer the question (also ValueError)
        ├── IRFormatError         an IR YAML document does not fit (ir/codec.py; also ValueError)
        ├── UnknownWorkload       describe: no workload by that name (also LookupError)
        └── Unsupported           the request evaluator does not model a matcher
                                  (also NotImplementedError)

Invalid Istio objects are not exceptions: `parse_object` returns `ConfigError`
records (file, kind, name, field, message) so one bad object never stops the rest.
"""

from __future__ import annotations

from ca.xdscp_error import XdscpError as XdscpError

__all__ = ["TranslatorError", "XdscpError"]


class TranslatorError(XdscpError):
    """Base of the errors the translator library raises."""
