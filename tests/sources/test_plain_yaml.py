"""The fast reader of plain block YAML (`xdscp.sources.plain_yaml`) gives exactly what
libyaml gives, and leaves every other shape, errors included, to libyaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from xdscp.sources import plain_yaml
from xdscp.sources.safe_yaml import Document, StreamError, _plain_scalar, load_documents

REPO = Path(__file__).resolve().parents[2]


def both(text: str) -> tuple[list[Document] | str, list[Document] | str]:
    """`text` read with the fast path allowed, and by libyaml alone (StreamError: its text)."""
    found: list[list[Document] | str] = []
    for plain in (True, False):
        try:
            found.append(load_documents(text, plain=plain))
        except StreamError as exc:
            found.append(str(exc))
    return found[0], found[1]


def fast(text: str) -> list[tuple[int, Any]] | None:
    return plain_yaml.decode(text, 50, _plain_scalar)


def test_the_generated_mesh_and_istio_style_files_take_the_fast_path() -> None:
    text = """# a comment
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  labels: {}
  annotations:
    sidecar.istio.io/inject: 'false'
spec:
  hosts:
    - reviews.prod.svc.cluster.local
  http:
  - match:
    - uri:
        prefix: "/api/v1"
    route:
      - destination:
          host: reviews
          port:
            number: 8080
        weight: 75
      -   destination:
            host: ratings
          weight: 25
    timeout: 1.5s
    retries:
  tcp: []
---
---
kind: DestinationRule
  # indented comment
spec:
  subsets:
  -
    name: v1
"""
    assert fast(text) is not None
    plain, libyaml = both(text)
    assert plain == libyaml
    assert isinstance(plain, list) and [d.line for d in plain] == [2, 28, 29]
    assert plain[0].value["spec"]["http"][0]["route"][1] == {
        "destination": {"host": "ratings"},
        "weight": 25,
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: {b: 1}\n",  # flow mapping
        "a: [1, 2]\n",
        "a: &x 1\nb: *x\n",  # anchors, aliases
        "a: !!str 1\n",  # tags
        "a: |\n  text\n",  # block scalars
        "a: >\n  text\n",
        "a: one\n  two\n",  # a multi-line plain scalar
        "a: 'it''s'\n",  # quote escapes
        'a: "tab\\t"\n',
        "a:\tb\n",  # tabs
        "a: 1\r\nb: 2\r\n",
        "a: café\n",  # not ASCII
        "a: 1\na: 2\n",  # duplicate keys
        "8080: x\n",  # keys that are not strings as written
        "true: x\n",
        '"quoted key": x\n',
        "a: 1 # trailing comment\n",
        "a: b: c\n",
        "a: b:\n",
        "a: *b\n",
        "a: - b\n",
        "a: 1\n...\n",
        "%YAML 1.1\n---\na: 1\n",
        "--- a: 1\n",
        "a:\n    b: 1\n  c: 2\n",  # bad indentation
        "a: 1\n  b: 2\n",
        "- a\nb: 1\n",
        "just a scalar\n",
        "a: =\n",  # an implicit tag the loader does not take
        "a: 'unterminated\n",
        "<<: {a: 1}\n",
        "? a\n: b\n",
        "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60)),  # deep
    ],
)
def test_every_other_shape_is_left_to_libyaml(text: str) -> None:
    assert fast(text) is None
    plain, libyaml = both(text)
    assert plain == libyaml


def test_errors_still_name_their_line() -> None:
    (document,) = load_documents("kind: VirtualService\nspec:\n  hosts: x\n  hosts: y\n")
    assert document.value is None
    assert document.error.startswith("(line 4, column 3): duplicate key 'hosts'")


def test_every_yaml_file_of_the_repository_reads_alike() -> None:
    """Examples, goldens and test inputs: whatever the fast path takes equals libyaml."""
    taken = 0
    for path in sorted(REPO.glob("**/*.y*ml")):
        if ".venv" in path.parts or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        plain, libyaml = both(text)
        assert plain == libyaml, path
        taken += fast(text) is not None
    assert taken > 50


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
    st.sampled_from(["", "~", "null", "yes", "off", "0x1f", "1e3", "-", "a #b", "a: b", "*"]),
)
keys = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    documents=st.lists(st.dictionaries(keys, values, max_size=5), min_size=1, max_size=3),
    indent=st.sampled_from([2, 4]),
    explicit=st.booleans(),
)
def test_dumped_documents_read_alike(
    documents: list[dict[str, Any]], indent: int, explicit: bool
) -> None:
    text = yaml.safe_dump_all(
        documents, default_flow_style=False, indent=indent, explicit_start=explicit
    )
    plain, libyaml = both(text)
    assert plain == libyaml
