"""A syntax check for CEL expressions (Telemetry access-log filters).

Envoy parses the expression when it loads the listener and refuses the whole listener
configuration when it cannot, so an expression that cannot parse must be refused at
load. Without a CEL parser at hand this checks the structure every CEL expression has:
terminated string literals, balanced brackets, no empty group, and no binary operator
at either end of the expression or of a group. It does not type-check (neither does
Envoy at load time).
"""

from __future__ import annotations

import re

_STRING_START = re.compile(r"(?:[rR][bB]?|[bB][rR]?)?('''|\"\"\"|'|\")")
_BINARY = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "+", "*", "/", "%", "?", ":", ",", ".")
_CLOSE = {")": "(", "]": "[", "}": "{"}


def _tokens(expression: str) -> list[str]:
    """Operators, brackets and `x` for every operand (literal or identifier)."""
    out: list[str] = []
    i, n = 0, len(expression)
    while i < n:
        c = expression[i]
        if c.isspace():
            i += 1
            continue
        string = _STRING_START.match(expression, i)
        if string is not None:
            quote = string.group(1)
            raw = "r" in string.group(0)[: -len(quote)].lower()
            j = string.end()
            while True:
                if j >= n:
                    raise ValueError(f"{expression!r}: unterminated string literal")
                if expression.startswith(quote, j):
                    break
                if len(quote) == 1 and expression[j] == "\n":
                    raise ValueError(f"{expression!r}: unterminated string literal")
                j += 2 if expression[j] == "\\" and not raw else 1
            out.append("x")
            i = j + len(quote)
            continue
        if c.isalnum() or c == "_":
            j = i
            while j < n and (expression[j].isalnum() or expression[j] in "_."):
                if expression[j] == "." and (j + 1 >= n or not expression[j + 1].isalnum()):
                    break
                j += 1
            out.append("x")
            i = j
            continue
        two = expression[i : i + 2]
        if two in ("&&", "||", "==", "!=", "<=", ">="):
            out.append(two)
            i += 2
            continue
        if c in "()[]{}<>+-*/%?:,.!":
            out.append(c)
            i += 1
            continue
        raise ValueError(f"{expression!r}: unexpected character {c!r}")
    return out


def check_cel_syntax(expression: str) -> str:
    tokens = _tokens(expression)
    if not tokens:
        raise ValueError("empty expression")
    stack: list[str] = []
    previous = ""
    for token in tokens:
        if token in "([{":
            stack.append(token)
        elif token in _CLOSE:
            if not stack or stack.pop() != _CLOSE[token]:
                raise ValueError(f"{expression!r}: unbalanced {token!r}")
            if previous in _BINARY or previous in ("!", "-"):
                raise ValueError(f"{expression!r}: an operator before {token!r}")
        elif token in _BINARY and token not in (",",) and previous in ("", "(", "[", "{", ","):
            raise ValueError(f"{expression!r}: {token!r} needs an operand before it")
        previous = token
    if stack:
        raise ValueError(f"{expression!r}: unclosed {stack[-1]!r}")
    if previous in _BINARY or previous in ("!", "-"):
        raise ValueError(f"{expression!r}: ends with the operator {previous!r}")
    if _empty_group(tokens):
        raise ValueError(f"{expression!r}: an empty group '()'")
    return expression


def _empty_group(tokens: list[str]) -> bool:
    """`()` that is not a call's argument list (`f()`, `x.size()` are fine)."""
    return any(
        tokens[i] == "(" and tokens[i + 1] == ")" and (i == 0 or tokens[i - 1] != "x")
        for i in range(len(tokens) - 1)
    )
