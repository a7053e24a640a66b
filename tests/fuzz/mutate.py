"""Structure-aware mutation of the repository's own YAML (examples/ and the golden
inputs): each case takes real documents and changes a few nodes the way a user, an
editor or a bad merge would — a value swapped for an edge value of its kind, a key
dropped, a list item duplicated, a type changed, a name collided — plus text-level
damage (truncation, duplicate keys, deep nesting, non-string keys, aliases).

Deterministic for a seed, so any finding can be replayed with `--seed`."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fuzz import values as v

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIRS = (REPO / "examples", REPO / "tests" / "golden" / "testdata" / "in")

Node = Any
Path_ = tuple[Any, ...]  # mapping keys (any YAML scalar) and list indexes


def load_corpus() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for root in CORPUS_DIRS:
        for path in sorted(root.rglob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, dict) and "kind" in doc:
                    docs.append(doc)
    return docs


# Key name -> the pool its values are drawn from (the first matching fragment wins).
_POOLS: tuple[tuple[tuple[str, ...], tuple[Any, ...]], ...] = (
    (("address", "bind"), v.ADDRESSES),
    (("ipblocks", "addresses"), v.CIDRS),
    (("host", "sni"), v.HOSTS),
    (("port", "number"), v.PORTS),
    (("timeout", "interval", "time", "duration", "delay", "backoff", "ttl", "maxage"), v.DURATIONS),
    (("regex", "match"), v.REGEXES),
    (("percent", "value"), v.PERCENTS),
    (("weight", "max", "consecutive", "attempts", "size", "probes", "status", "code"), v.INTS),
    (("retryon",), v.RETRY_ON),
    (("protocol",), v.PROTOCOLS),
    (("resolution",), v.RESOLUTIONS),
    (("subset",), v.SUBSETS),
    (("name",), v.NAMES),
    (("namespace",), v.NAMESPACES),
    (("exact", "prefix", "uri", "path", "authority", "rewrite"), v.TEXTS),
)
_ANY: tuple[Any, ...] = v.INTS + v.HOSTS + v.HEADER_VALUES + v.DURATIONS + (None, True, [], {}, "x")


def pool_for(key: str) -> tuple[Any, ...]:
    lowered = key.lower()
    for fragments, pool in _POOLS:
        if any(f in lowered for f in fragments):
            return pool
    return _ANY


def _paths(node: Node, prefix: Path_ = ()) -> Iterator[tuple[Path_, Node]]:
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _parent(doc: Node, path: Path_) -> Node:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


def _set(doc: Node, path: Path_, value: Node) -> None:
    _parent(doc, path)[path[-1]] = value


def _last_key(path: Path_) -> str:
    return next((p for p in reversed(path) if isinstance(p, str)), "")


@dataclass
class Mutator:
    rng: random.Random
    corpus: list[dict[str, Any]]
    hostile_yaml: bool = True

    # --- tree mutations -------------------------------------------------------------

    def edge_value(self, doc: Node) -> str:
        leaves = [(p, n) for p, n in _paths(doc) if p and not isinstance(n, dict | list)]
        if not leaves:
            return "noop"
        path, _ = self.rng.choice(leaves)
        key = _last_key(path)
        if key in ("set", "add") or (len(path) > 1 and _last_key(path[:-1]) in ("set", "add")):
            pool: tuple[Any, ...] = v.HEADER_VALUES
        else:
            pool = pool_for(key)
        _set(doc, path, copy.deepcopy(self.rng.choice(pool)))
        return f"edge {'.'.join(map(str, path))}"

    def drop_key(self, doc: Node) -> str:
        maps = [(p, n) for p, n in _paths(doc) if isinstance(n, dict) and n]
        if not maps:
            return "noop"
        path, node = self.rng.choice(maps)
        key = self.rng.choice(list(node))
        del node[key]
        return f"drop {'.'.join(map(str, (*path, key)))}"

    def duplicate_item(self, doc: Node) -> str:
        lists = [(p, n) for p, n in _paths(doc) if isinstance(n, list) and n]
        if not lists:
            return self.edge_value(doc)
        path, node = self.rng.choice(lists)
        node.append(copy.deepcopy(self.rng.choice(node)))
        return f"duplicate {'.'.join(map(str, path))}[]"

    def change_type(self, doc: Node) -> str:
        nodes = [(p, n) for p, n in _paths(doc) if p]
        if not nodes:
            return "noop"
        path, node = self.rng.choice(nodes)
        replacement = self.rng.choice(
            [[node], {"x": node}, str(node)[:40], 0, None, True, [], {}, 1.5]
        )
        _set(doc, path, replacement)
        return f"type {'.'.join(map(str, path))}"

    def graft(self, doc: Node) -> str:
        """A subtree from another document of the same kind, at the same key."""
        same = [d for d in self.corpus if d.get("kind") == doc.get("kind")]
        if not same:
            return self.rename(doc)
        other = self.rng.choice(same)
        ours = {p for p, n in _paths(doc) if p}
        shared = [(p, n) for p, n in _paths(other) if p in ours and len(p) > 1]
        if not shared:
            return self.edge_value(doc)
        path, node = self.rng.choice(shared)
        _set(doc, path, copy.deepcopy(node))
        return f"graft {'.'.join(map(str, path))}"

    def rename(self, doc: Node) -> str:
        """A name another object already has (same kind: a duplicate; else a clash)."""
        other = self.rng.choice(self.corpus)
        if not isinstance(doc.get("metadata"), dict):
            doc["metadata"] = {}
        doc["metadata"]["name"] = other.get("metadata", {}).get("name", "x")
        return "rename"

    TREE: tuple[str, ...] = (
        "edge_value",
        "edge_value",
        "edge_value",
        "drop_key",
        "duplicate_item",
        "change_type",
        "graft",
        "rename",
    )

    def mutate_tree(self, doc: Node) -> list[str]:
        steps = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 3))):
            operation: Callable[[Node], str] = getattr(self, self.rng.choice(self.TREE))
            steps.append(operation(doc))
        return steps

    # --- text mutations -----------------------------------------------------------------

    def mutate_text(self, text: str) -> tuple[str, str]:
        choice = self.rng.random()
        if choice < 0.3:
            cut = self.rng.randrange(len(text)) if text else 0
            return text[:cut], "truncate"
        if choice < 0.5:
            lines = text.splitlines()
            keyed = [
                i
                for i, line in enumerate(lines)
                if ":" in line and not line.strip().startswith("-")
            ]
            if keyed:
                i = self.rng.choice(keyed)
                lines.insert(i + 1, lines[i])
            return "\n".join(lines) + "\n", "duplicate-key"
        if not self.hostile_yaml:
            return text, "none"
        if choice < 0.65:
            depth = self.rng.choice((100, 600, 2000))
            return text + "---\n" + "[" * depth + "]" * depth + "\n", f"nesting-{depth}"
        if choice < 0.8:
            return text + "---\n{1: x, kind: VirtualService}\n", "non-string-key"
        if choice < 0.9:
            big = 2 ** self.rng.choice((32, 40, 64, 200))
            return text.replace("weight: ", f"weight: {big} #", 1), "huge-int"
        bomb = "a: &a [x,x,x,x,x,x,x,x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)}]\n"
            # bounded: a bomb big enough to matter here would stall this harness too
            for i in range(self.rng.choice((3, 6)))
        )
        return text + "---\n" + bomb, "alias-bomb"

    # --- a case -------------------------------------------------------------------------

    def case(self, max_documents: int = 3) -> tuple[list[dict[str, Any]], str, list[str]]:
        """(mutated documents, their YAML text, what was done)."""
        docs = [
            copy.deepcopy(self.rng.choice(self.corpus))
            for _ in range(self.rng.randint(1, max_documents))
        ]
        steps: list[str] = []
        for doc in docs:
            steps += self.mutate_tree(doc)
        text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
        if self.rng.random() < 0.15:
            text, step = self.mutate_text(text)
            steps.append(step)
        return docs, text, steps
