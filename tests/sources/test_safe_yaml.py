"""YAML as Kubernetes reads it, at a bounded cost: every hostile or ambiguous shape is an
error of its document (with its line), and the documents after it are still read."""

from __future__ import annotations

import itertools
import time
import tracemalloc

import pytest

from xdscp.sources.safe_yaml import Limits, StreamError, load_documents


def alias_bomb(levels: int = 9) -> str:
    """The classic "billion laughs", 9**levels strings, in `kind` (~400 bytes)."""
    lines = ["apiVersion: networking.istio.io/v1", "metadata: {name: x}"]
    lines.append('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    names = "abcdefghijklmnop"
    for previous, name in itertools.pairwise(names[:levels]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append(f"kind: *{names[levels - 1]}")
    return "\n".join(lines) + "\n---\nok: 1\n"


def test_an_alias_bomb_fails_fast_and_small() -> None:
    text = alias_bomb()
    assert len(text) < 600
    tracemalloc.start()
    started = time.perf_counter()
    try:
        bomb, after = load_documents(text)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bomb.value is None
    assert "aliases expand to more than 10000 extra nodes" in bomb.error
    assert bomb.error.startswith("(line ")
    assert after.value == {"ok": 1}
    assert elapsed < 0.5, elapsed
    assert peak < 5 * 1024 * 1024, peak


def test_a_few_shared_anchors_are_fine() -> None:
    (doc,) = load_documents("base: &b {app: a, version: v1}\none: *b\ntwo: *b\n")
    assert doc.value == {"base": {"app": "a", "version": "v1"}} | {
        "one": {"app": "a", "version": "v1"},
        "two": {"app": "a", "version": "v1"},
    }


def test_deep_nesting_is_refused_at_the_limit() -> None:
    deep, after = load_documents("a: " + "[" * 600 + "]" * 600 + "\n---\nok: 2\n")
    assert deep.error == "(line 1, column 103): nested more than 100 levels deep"
    assert after.value == {"ok": 2}
    (fine,) = load_documents("a: " + "[" * 99 + "]" * 99 + "\n")
    assert fine.error == ""


def test_duplicate_keys_are_an_error_naming_both_lines() -> None:
    dup, after = load_documents("a: 1\nb:\n  c: 1\n  c: 2\n---\nok: 3\n")
    assert dup.error == "(line 4, column 3): duplicate key 'c' (first at line 3)"
    assert after.value == {"ok": 3}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("on: 1\n", "mapping key 'on' (read as bool) is not a string (quote it)"),
        ("~: 1\n", "mapping key '~' (read as NoneType) is not a string (quote it)"),
        ("[a]: 1\n", "mapping key that is a collection is not a string (quote it)"),
        ("x: !!set {a}\n", "unsupported tag 'tag:yaml.org,2002:set'"),
        ("x: !!binary aGk=\n", "unsupported tag 'tag:yaml.org,2002:binary'"),
        ("x: !custom 1\n", "unsupported tag '!custom'"),
        ("x: *nowhere\n", "found undefined alias 'nowhere'"),
    ],
)
def test_what_kubernetes_would_not_mean_is_refused(text: str, problem: str) -> None:
    (doc,) = load_documents(text)
    assert doc.value is None
    assert doc.error.endswith(problem), doc.error


def test_values_are_json_shaped_as_kubernetes_reads_them() -> None:
    (doc,) = load_documents(
        "ports: {8080: {mode: DISABLE}}\n"
        "created: 2024-05-01T10:00:00Z\n"
        "n: 0x10\nf: 1.5\nb: true\nnull_: ~\ns: '007'\n"
        "merged:\n  <<: {a: 1, b: 2}\n  b: 3\n"
    )
    assert doc.value == {
        "ports": {"8080": {"mode": "DISABLE"}},
        "created": "2024-05-01T10:00:00Z",
        "n": 16,
        "f": 1.5,
        "b": True,
        "null_": None,
        "s": "007",
        "merged": {"a": 1, "b": 3},
    }


def test_sizes_are_bounded() -> None:
    limits = Limits(file_bytes=10_000, document_chars=200, scalar_chars=50)
    (long_value,) = load_documents("a: " + "x" * 51 + "\n", limits)
    assert long_value.error.endswith("a value of 51 characters (limit 50)")
    big, after = load_documents("a: [" + ", ".join(["1"] * 100) + "]\n---\nok: 1\n", limits)
    assert "document is" in big.error and "(limit 200)" in big.error
    assert after.value == {"ok": 1}
    with pytest.raises(StreamError, match="limit 10000"):
        load_documents("a: 1\n" * 3000, limits)


def test_a_broken_token_stream_fails_the_whole_file() -> None:
    with pytest.raises(StreamError, match=r"\(line 4, column 1\): while parsing a flow"):
        load_documents("ok: 1\n---\n[unclosed\n")
