"""What importing a module really loads, measured in a fresh interpreter (this test
process has long since imported everything)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import importlib, json, sys
before = set(sys.modules)
module = importlib.import_module({module!r})
for name in {touch!r}:
    getattr(module, name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def modules_loaded(module: str, touch: tuple[str, ...] = ()) -> frozenset[str]:
    """Modules a fresh `python -c "import <module>"` adds to sys.modules (after
    reading the attributes `touch`, to include what lazy names load)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module, touch=touch)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = json.loads(done.stdout)
    assert isinstance(loaded, list)
    return frozenset(str(name) for name in loaded)


def within(names: frozenset[str], package: str) -> list[str]:
    return sorted(n for n in names if n == package or n.startswith(package + "."))
