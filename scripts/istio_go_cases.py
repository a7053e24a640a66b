"""The cases of Istio's validation tests (pkg/config/validation/validation_test.go), as
YAML-shaped documents with Istio's verdict — for `istio_compat.py`.

Istio writes its cases as Go protobuf literals:

    {name: "simple", in: &networking.VirtualService{Hosts: []string{"foo.bar"}, ...},
     valid: true},

This reads that subset of Go — composite literals (keyed, elided, `&T{}`), strings,
numbers, booleans, enum constants (`networking.ServiceEntry_DNS` -> "DNS"), oneof
wrappers (`&networking.StringMatch_Exact{Exact: "x"}` -> `exact: x` in the parent),
durations (`&durationpb.Duration{Seconds: 2}`, `durationpb.New(2 * time.Second)`) and
wrappers (`&wrapperspb.UInt32Value{Value: 5}`) — and turns field names into Istio's
JSON names. A case using anything else (a variable, a helper function) is skipped and
counted, never guessed. Cases of message-level tests (an HTTPRoute, a TrafficPolicy, a
LoadBalancerSettings, ...) are wrapped into the smallest object around them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Go type (as the test file imports it) -> the kind it is
OBJECT_TYPES = {
    "networking.VirtualService": "VirtualService",
    "networking.DestinationRule": "DestinationRule",
    "networking.ServiceEntry": "ServiceEntry",
    "networking.Sidecar": "Sidecar",
    "networking.WorkloadEntry": "WorkloadEntry",
    "security_beta.AuthorizationPolicy": "AuthorizationPolicy",
    "security_beta.PeerAuthentication": "PeerAuthentication",
    "telemetry.Telemetry": "Telemetry",
}
API_VERSIONS = {
    "VirtualService": "networking.istio.io/v1",
    "DestinationRule": "networking.istio.io/v1",
    "ServiceEntry": "networking.istio.io/v1",
    "Sidecar": "networking.istio.io/v1",
    "WorkloadEntry": "networking.istio.io/v1",
    "AuthorizationPolicy": "security.istio.io/v1",
    "PeerAuthentication": "security.istio.io/v1",
    "Telemetry": "telemetry.istio.io/v1",
}

_ROUTE = [{"destination": {"host": "foo.baz"}}]


def _vs(http: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "VirtualService", {"hosts": ["foo.bar"], "http": [http]}


def _dr(policy: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "DestinationRule", {"host": "reviews", "trafficPolicy": policy}


# Go type of a message-level case -> the object it is wrapped into
WRAPPERS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "networking.HTTPRoute": _vs,
    "networking.HTTPRetry": lambda r: _vs({"route": _ROUTE, "retries": r}),
    "networking.HTTPRewrite": lambda r: _vs({"route": _ROUTE, "rewrite": r}),
    "networking.HTTPRedirect": lambda r: _vs({"redirect": r}),
    "networking.HTTPDirectResponse": lambda r: _vs({"directResponse": r}),
    "networking.CorsPolicy": lambda c: _vs({"route": _ROUTE, "corsPolicy": c}),
    "networking.HTTPFaultInjection_Abort": lambda a: _vs({"route": _ROUTE, "fault": {"abort": a}}),
    "networking.HTTPFaultInjection_Delay": lambda d: _vs({"route": _ROUTE, "fault": {"delay": d}}),
    "networking.Destination": lambda d: _vs({"route": [{"destination": d}]}),
    "networking.TrafficPolicy": _dr,
    "networking.LoadBalancerSettings": lambda lb: _dr({"loadBalancer": lb}),
    "networking.ConnectionPoolSettings": lambda p: _dr({"connectionPool": p}),
    "networking.OutlierDetection": lambda o: _dr({"outlierDetection": o}),
}


class Unsupported(Exception):
    """Go this reader does not evaluate (a variable, a call): the case is skipped."""


@dataclass(frozen=True, slots=True)
class GoCase:
    test: str
    name: str
    kind: str
    spec: dict[str, Any]
    valid: bool


@dataclass(frozen=True, slots=True)
class Typed:
    """A composite literal's value and its Go type (empty when elided)."""

    type: str
    value: Any


@dataclass(frozen=True, slots=True)
class OneOf:
    """A oneof wrapper's one field, merged into the parent message."""

    fields: dict[str, Any]


_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/
    |(?P<str>"(?:\\.|[^"\\])*"|`[^`]*`)
    |(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
    |(?P<id>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<op>[{}\[\]().,:&*+\-/])""",
    re.S | re.X,
)


def tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            out.append(("op", text[position]))  # anything else: an operator we do not read
            position += 1
            continue
        position = found.end()
        kind = found.lastgroup
        if kind is not None:
            out.append((kind, found.group(kind)))
    return out


def json_name(go: str) -> str:
    if go == "Consecutive_5XxErrors":
        return "consecutive5xxErrors"
    go = go.rstrip("_")
    return go[:1].lower() + go[1:]


def enum_value(selector: str) -> str:
    parts = selector.split(".")[-1].split("_")
    tail: list[str] = []
    for part in reversed(parts[1:]):
        if not part or part.upper() != part:
            break
        tail.insert(0, part)
    if not tail:
        raise Unsupported(selector)
    return "_".join(tail)


_TIME = {
    "time.Nanosecond": Decimal(1) / 10**9,
    "time.Microsecond": Decimal(1) / 10**6,
    "time.Millisecond": Decimal(1) / 1000,
    "time.Second": Decimal(1),
    "time.Minute": Decimal(60),
    "time.Hour": Decimal(3600),
}


def _seconds(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return f"{text}s"


class Parser:
    def __init__(self, toks: list[tuple[str, str]], start: int = 0) -> None:
        self.toks = toks
        self.i = start

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.i + offset
        return self.toks[index] if index < len(self.toks) else ("eof", "")

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if expected is not None and token[1] != expected:
            raise Unsupported(f"expected {expected!r}, found {token[1]!r}")
        self.i += 1
        return token

    def type_name(self) -> str:
        """`[]*networking.X`, `map[string]*networking.Y`, `networking.Z`, `struct{...}`."""
        kind, text = self.peek()
        if text == "[":
            self.take("[")
            self.take("]")
            return "[]" + self.type_name()
        if text == "*":
            self.take("*")
            return self.type_name()
        if text == "map":
            self.take()
            self.take("[")
            key = self.type_name()
            self.take("]")
            return f"map[{key}]{self.type_name()}"
        if kind == "id":
            self.take()
            return text
        raise Unsupported(f"type at {text!r}")

    def expression(self) -> Any:
        value = self.unary()
        while self.peek()[1] in ("*", "/"):
            operator = self.take()[1]
            right = self.unary()
            if not isinstance(value, Decimal) or not isinstance(right, Decimal):
                raise Unsupported("arithmetic on non-numbers")
            value = value * right if operator == "*" else value / right
        while self.peek()[1] in ("+", "-") and self.peek(1)[0] in ("num", "id"):
            operator = self.take()[1]
            right = self.unary()
            if not isinstance(value, Decimal) or not isinstance(right, Decimal):
                raise Unsupported("arithmetic on non-numbers")
            value = value + right if operator == "+" else value - right
        return value

    def unary(self) -> Any:
        kind, text = self.peek()
        if text == "-":
            self.take()
            value = self.unary()
            if not isinstance(value, Decimal):
                raise Unsupported("negative non-number")
            return -value
        if text == "&":
            self.take()
            return self.unary()
        if text == "(":
            self.take()
            value = self.expression()
            self.take(")")
            return value
        if text == "{":
            return Typed("", self.composite(""))
        if kind == "str":
            self.take()
            return _go_string(text)
        if kind == "num":
            self.take()
            return Decimal(text)
        if text in ("[", "map"):
            go_type = self.type_name()
            return Typed(go_type, self.composite(go_type))
        if kind == "id":
            return self.identifier()
        raise Unsupported(f"expression at {text!r}")

    def identifier(self) -> Any:
        _, name = self.take()
        if name in ("true", "false"):
            return name == "true"
        if name == "nil":
            return None
        if name in _TIME:
            return _TIME[name]
        if self.peek()[1] == "(":  # a call: conversions and the few constructors we know
            self.take("(")
            argument = self.expression() if self.peek()[1] != ")" else None
            self.take(")")
            if name in ("uint32", "int32", "int64", "uint64", "float64", "float32", "int"):
                return argument
            if name == "durationpb.New" and isinstance(argument, Decimal):
                return _seconds(argument)
            if name.startswith("wrapperspb.") and name[len("wrapperspb.") :] in (
                "Bool",
                "UInt32",
                "Int32",
                "Int64",
                "UInt64",
                "Double",
                "Float",
                "String",
            ):
                return argument
            raise Unsupported(f"call {name}")
        if self.peek()[1] == "{":
            return Typed(name, self.composite(name))
        if "." in name and "_" in name.split(".")[-1]:
            return enum_value(name)
        raise Unsupported(f"identifier {name}")

    def composite(self, go_type: str) -> Any:
        self.take("{")
        items: list[tuple[Any, Any]] = []
        keyed = False
        while self.peek()[1] != "}":
            first = self.expression_or_key()
            if self.peek()[1] == ":":
                self.take(":")
                keyed = True
                items.append((first, self.expression()))
            else:
                items.append((None, first))
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        element = go_type[2:] if go_type.startswith("[]") else ""
        if not items:  # `T{}`: an empty list, map or message
            if go_type.startswith("[]"):
                return []
            return {} if go_type.startswith("map[") else _special(go_type, {})
        if go_type.startswith("[]"):
            listed = [self.convert(v, element) for _, v in items]
            if any(c is None for c in listed):
                raise Unsupported("a nil element (YAML has no such thing)")
            return listed
        if go_type.startswith("map["):
            value_type = go_type[go_type.index("]") + 1 :]
            return {_key(k): self.convert(v, value_type) for k, v in items}
        if not keyed:  # an elided list
            listed = [self.convert(v, "") for _, v in items]
            if any(c is None for c in listed):
                raise Unsupported("a nil element (YAML has no such thing)")
            return listed
        return self.message(go_type, items)

    def expression_or_key(self) -> Any:
        kind, text = self.peek()
        if kind == "id" and self.peek(1)[1] == ":" and "." not in text:
            self.take()
            return ("key", text)
        return self.expression()

    def message(self, go_type: str, items: list[tuple[Any, Any]]) -> Any:
        fields: dict[str, Any] = {}
        for key, value in items:
            if not (isinstance(key, tuple) and key[0] == "key"):
                raise Unsupported("a message with a non-field key")
            converted = self.convert(value, "")
            if isinstance(converted, OneOf):
                fields.update(converted.fields)
            elif converted is not None:
                fields[json_name(key[1])] = converted
        return _special(go_type, fields)

    def convert(self, value: Any, go_type: str) -> Any:
        if isinstance(value, Typed):
            inner = value.value
            if isinstance(inner, dict) and value.type and _is_oneof(value.type, inner):
                return OneOf(inner)
            return inner
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return value


def _is_oneof(go_type: str, fields: dict[str, Any]) -> bool:
    name = go_type.split(".")[-1]
    if "_" not in name or len(fields) != 1:
        return False
    suffix = name.rstrip("_").split("_")[-1]
    (field,) = fields
    return field.lower() == json_name(suffix).lower()


def _special(go_type: str, fields: dict[str, Any]) -> Any:
    """Well-known types become what their JSON form is."""
    if go_type.endswith("durationpb.Duration"):
        seconds = Decimal(fields.get("seconds", 0)) + Decimal(fields.get("nanos", 0)) / 10**9
        return _seconds(seconds)
    if go_type.startswith("wrapperspb."):
        return fields.get("value", _ZERO.get(go_type.split(".")[-1]))
    return fields


_ZERO: dict[str, Any] = {"BoolValue": False, "StringValue": ""}


def _key(key: Any) -> str:
    if isinstance(key, Decimal):
        return str(int(key))
    if isinstance(key, str):
        return key
    raise Unsupported(f"map key {key!r}")


def _go_string(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return bytes(text[1:-1], "utf-8").decode("unicode_escape")


# --- the test functions ---------------------------------------------------------------

_FUNC = re.compile(r"^func (Test\w+)\(t \*testing\.T\) \{$", re.M)
_STRUCT = re.compile(r"\[\]struct\s*\{(?P<fields>[^{}]*)\}\s*\{", re.S)


def test_functions(source: str) -> Iterator[tuple[str, str]]:
    starts = [(m.group(1), m.end()) for m in _FUNC.finditer(source)]
    for (name, start), following in zip(starts, [*starts[1:], ("", len(source))], strict=True):
        yield name, source[start : following[1]]


def cases(source: str) -> tuple[list[GoCase], int]:
    """The cases of every validation test of a kind we support, and how many were skipped."""
    found: list[GoCase] = []
    skipped = 0
    for test, body in test_functions(source):
        table = _STRUCT.search(body)
        if table is None:
            continue
        columns = [line.split()[0] for line in table.group("fields").strip().splitlines()]
        toks = tokens(body[table.end() - 1 :])
        parser = Parser(toks)
        parser.take("{")
        while parser.peek()[1] == "{":
            start = parser.i
            try:
                case = _case(parser, columns, test)
            except Unsupported:
                skipped += 1
                parser.i = start
                _skip_balanced(parser)
                case = None
            if case is not None:
                found.append(case)
            if parser.peek()[1] == ",":
                parser.take(",")
    return found, skipped


def _skip_balanced(parser: Parser) -> None:
    """Move past one `{...}` element (the parser stands on its `{`)."""
    depth = 0
    while parser.peek()[0] != "eof":
        text = parser.take()[1]
        if text == "{":
            depth += 1
        elif text == "}":
            depth -= 1
            if depth == 0:
                return


def _case(parser: Parser, columns: list[str], test: str) -> GoCase | None:
    parser.take("{")
    values: dict[str, Any] = {}
    position = 0
    while parser.peek()[1] != "}":
        first = parser.expression_or_key()
        if isinstance(first, tuple) and parser.peek()[1] == ":":
            parser.take(":")
            values[first[1]] = parser.expression()
        else:
            if position >= len(columns):
                raise Unsupported("more values than columns")
            values[columns[position]] = first
        position += 1
        if parser.peek()[1] == ",":
            parser.take(",")
    parser.take("}")
    return _to_case(test, values)


def _to_case(test: str, values: dict[str, Any]) -> GoCase | None:
    message = next((v for v in values.values() if isinstance(v, Typed) and v.type), None)
    if message is None:
        return None
    name = str(values.get("name", ""))
    if "valid" in values:
        valid = bool(values["valid"])
    elif "err" in values:
        valid = values["err"] == ""
    else:
        return None
    spec = message.value
    if not isinstance(spec, dict):
        return None
    if message.type in OBJECT_TYPES:
        return GoCase(test, name, OBJECT_TYPES[message.type], _finish(spec), valid)
    wrap = WRAPPERS.get(message.type)
    if wrap is None:
        return None
    kind, wrapped = wrap(spec)
    if test == "TestValidateDelegateHTTPRoute":
        wrapped = {"http": wrapped["http"]}  # validated as a delegate's rule: no hosts
    return GoCase(test, name, kind, _finish(wrapped), valid)


def _finish(value: Any) -> Any:
    """Numbers left as Decimal (top-level case values) become ints or floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _finish(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finish(v) for v in value]
    return value


def as_document(case: GoCase, index: int) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSIONS[case.kind],
        "kind": case.kind,
        "metadata": {"name": f"case-{index}", "namespace": "default"},
        "spec": case.spec,
    }
