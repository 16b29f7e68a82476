"""HTTP trigger route templates, with ASP.NET Core's syntax as the Functions host uses it.

Supported: literal segments (case-insensitive), `{name}`, optional `{name?}`, defaults
`{name=value}`, constraints `{id:int}`, `{x:alpha:minlength(2)}` ..., catch-all `{*rest}` and
`{**rest}`, and several parts in one segment (`{name}.{ext}`). A template compiles to one regex;
constraints are checked on the captured values, and a failed constraint means "no match".
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from devhost.errors import RouteTemplateError


@dataclass(frozen=True)
class Constraint:
    name: str
    args: tuple[str, ...]
    check: Callable[[str], bool]


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Constraint, ...] = ()


Part = str | Parameter  # a segment is a sequence of literal text and parameters


def _int_in(low: int, high: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return re.fullmatch(r"[+-]?\d+", value) is not None and low <= int(value) <= high

    return check


def _is_float(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        return False


def _number_arg(constraint: str, arg: str) -> float:
    try:
        return float(arg)
    except ValueError:
        raise RouteTemplateError(f"constraint {constraint}({arg}) needs a number") from None


def _build_constraint(name: str, args: tuple[str, ...]) -> Constraint:
    """The checks the Functions host supports (ASP.NET route constraints)."""
    lowered = name.lower()
    simple: dict[str, Callable[[str], bool]] = {
        "int": _int_in(-(2**31), 2**31 - 1),
        "long": _int_in(-(2**63), 2**63 - 1),
        "bool": lambda v: v.lower() in ("true", "false"),
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "guid": _is_guid,
        "datetime": _is_datetime,
        "decimal": _is_float,
        "double": _is_float,
        "float": _is_float,
        "required": lambda v: v != "",
    }
    if lowered in simple:
        if args:
            raise RouteTemplateError(f"constraint {name} takes no argument")
        return Constraint(lowered, args, simple[lowered])
    nums = tuple(_number_arg(name, a) for a in args) if lowered != "regex" else ()
    if lowered in ("minlength", "maxlength", "min", "max") and len(nums) == 1:
        n = nums[0]
        checks: dict[str, Callable[[str], bool]] = {
            "minlength": lambda v: len(v) >= n,
            "maxlength": lambda v: len(v) <= n,
            "min": lambda v: _int_in(-(2**63), 2**63 - 1)(v) and int(v) >= n,
            "max": lambda v: _int_in(-(2**63), 2**63 - 1)(v) and int(v) <= n,
        }
        return Constraint(lowered, args, checks[lowered])
    if lowered == "length" and len(nums) in (1, 2):
        low, high = (nums[0], nums[0]) if len(nums) == 1 else nums
        return Constraint(lowered, args, lambda v: low <= len(v) <= high)
    if lowered == "range" and len(nums) == 2:
        low, high = nums
        return Constraint(lowered, args, lambda v: _int_in(-(2**63), 2**63 - 1)(v) and low <= int(v) <= high)
    if lowered == "regex" and len(args) == 1:
        try:
            pattern = re.compile(args[0], re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"constraint regex({args[0]}) is not a regex: {exc}") from None
        return Constraint(lowered, args, lambda v: pattern.search(v) is not None)
    raise RouteTemplateError(f"unknown route constraint {name}({', '.join(args)})")


def _split_constraints(text: str) -> list[str]:
    """Split `int:min(1)` on colons that are not inside parentheses."""
    pieces, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == ":" and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += ch
    pieces.append(current)
    return pieces


def _top_level_index(text: str, char: str) -> int:
    """Index of `char` outside parentheses, or -1."""
    depth = 0
    for index, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == char and depth == 0:
            return index
    return -1


def _parse_parameter(body: str, template: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    optional = body.endswith("?")
    if optional:
        body = body[:-1]
    default: str | None = None
    equals = _top_level_index(body, "=")
    if equals >= 0:
        body, default = body[:equals], body[equals + 1 :]
    head, *constraint_texts = _split_constraints(body)
    name = head
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteTemplateError(f"route {template!r}: bad parameter name {name!r}")
    constraints = []
    for text in constraint_texts:
        m = re.fullmatch(r"([A-Za-z]+)(?:\((.*)\))?", text, re.DOTALL)
        if not m:
            raise RouteTemplateError(f"route {template!r}: bad constraint {text!r}")
        raw_args = m.group(2)
        if raw_args is None:
            args: tuple[str, ...] = ()
        elif m.group(1).lower() == "regex":
            args = (raw_args,)
        else:
            args = tuple(a.strip() for a in raw_args.split(","))
        constraints.append(_build_constraint(m.group(1), args))
    return Parameter(name, optional or catch_all, catch_all, default, tuple(constraints))


def _parse_segment(segment: str, template: str) -> list[Part]:
    parts: list[Part] = []
    literal = ""
    i = 0
    while i < len(segment):
        ch = segment[i]
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal += ch
            i += 2
            continue
        if ch == "}":
            raise RouteTemplateError(f"route {template!r}: unmatched '}}'")
        if ch != "{":
            literal += ch
            i += 1
            continue
        depth, j = 0, i + 1
        while j < len(segment) and not (segment[j] == "}" and depth == 0):
            depth += {"(": 1, ")": -1}.get(segment[j], 0)
            j += 1
        if j >= len(segment):
            raise RouteTemplateError(f"route {template!r}: unclosed '{{'")
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(_parse_parameter(segment[i + 1 : j].replace("{{", "{").replace("}}", "}"), template))
        i = j + 1
    if literal:
        parts.append(literal)
    return parts


_FLAGS = re.IGNORECASE | re.DOTALL

# Precedence ranks of a segment: lower is more specific and is tried first (ASP.NET's order).
_LITERAL, _COMPLEX, _CONSTRAINED, _PARAM, _OPTIONAL, _CATCH_ALL = range(6)


class RouteTemplate:
    """One parsed template; `match(path)` gives the route parameters or None."""

    def __init__(self, template: str) -> None:
        self.template = template
        stripped = template.strip().strip("/")
        self.segments: list[list[Part]] = (
            [_parse_segment(s, template) for s in stripped.split("/")] if stripped else []
        )
        self.parameters: list[Parameter] = []
        regex = "^"
        for index, parts in enumerate(self.segments):
            if not parts:
                raise RouteTemplateError(f"route {template!r} has an empty segment")
            params = [p for p in parts if isinstance(p, Parameter)]
            for p in params:
                if p.catch_all and index != len(self.segments) - 1:
                    raise RouteTemplateError(f"route {template!r}: a catch-all must come last")
                if any(q.name.lower() == p.name.lower() for q in self.parameters):
                    raise RouteTemplateError(f"route {template!r}: parameter {p.name} twice")
                self.parameters.append(p)
            if len(parts) == 1 and isinstance(parts[0], Parameter):
                p = parts[0]
                group = f"(?P<p{len(self.parameters) - 1}>{'.*' if p.catch_all else '[^/]+'})"
                if p.optional or p.default is not None:
                    regex += f"(?:/{group})?"
                else:
                    regex += "/" + group
                continue
            regex += "/"
            for part in parts:
                if isinstance(part, str):
                    regex += re.escape(part)
                else:
                    number = self.parameters.index(part)
                    regex += f"(?P<p{number}>[^/]+?)" + ("?" if part.optional else "")
        self.pattern = regex[1:] + "/?"  # without anchors, parameter n captured as group `p{n}`
        self._regex = re.compile(regex + "/?$", _FLAGS)

    @property
    def precedence(self) -> tuple[int, ...]:
        ranks = []
        for parts in self.segments:
            if len(parts) > 1:
                ranks.append(_COMPLEX)
                continue
            part = parts[0]
            if isinstance(part, str):
                ranks.append(_LITERAL)
            elif part.catch_all:
                ranks.append(_CATCH_ALL)
            elif part.optional or part.default is not None:
                ranks.append(_OPTIONAL)
            elif part.constraints:
                ranks.append(_CONSTRAINED)
            else:
                ranks.append(_PARAM)
        return tuple(ranks)

    def match(self, path: str) -> dict[str, str] | None:
        """Match a path relative to the route prefix (`/a/b` or `a/b`); values are decoded."""
        m = self._regex.match(_relative(path))
        return None if m is None else self.values(lambda number: m.group(f"p{number}"))

    def values(self, captured: Callable[[int], str | None]) -> dict[str, str] | None:
        """The route parameters from what parameter n `captured`; None when a constraint fails."""
        values: dict[str, str] = {}
        for number, param in enumerate(self.parameters):
            value = captured(number)
            if value is None or value == "":
                if param.default is not None:
                    values[param.name] = param.default
                elif not param.optional:
                    return None
                continue
            if param.constraints and not all(c.check(value) for c in param.constraints):
                return None
            values[param.name] = value
        return values

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"


def _relative(path: str) -> str:
    stripped = path.strip("/")
    return "/" + stripped if stripped else ""


_GROUP = re.compile(r"\(\?P<p(\d+)>")


class RouteTable:
    """Templates in the order they are tried, matched against a path in one regex search.

    One alternation of every template's pattern (each in its own group, its parameters renamed
    `r{route}p{n}`) finds the first template whose pattern fits; a template whose constraints or
    methods then refuse the request hands over to the ones after it, in turn, as before.
    """

    def __init__(self, templates: list[RouteTemplate]) -> None:
        self.templates = templates
        # Literal text is re.escape()d, so "(?P<p" in a pattern is always one of its groups.
        alternatives = (
            f"(?P<r{index}>" + _GROUP.sub(f"(?P<r{index}p" + r"\1>", template.pattern) + ")"
            for index, template in enumerate(templates)
        )
        self._regex = re.compile("^(?:" + "|".join(alternatives) + ")$", _FLAGS) if templates else None

    def matches(self, path: str) -> Iterator[tuple[int, dict[str, str]]]:
        """(index, route parameters) of each template that takes `path`, in order."""
        relative = _relative(path)
        m = self._regex.match(relative) if self._regex is not None else None
        if m is None:
            return
        # The alternative that matched is the last group to close: its own group wraps its
        # parameters' groups, so `lastgroup` names it without probing each template's group.
        assert m.lastgroup is not None
        first = int(m.lastgroup[1:])
        values = self.templates[first].values(lambda number: m.group(f"r{first}p{number}"))
        if values is not None:
            yield first, values
        for index in range(first + 1, len(self.templates)):
            values = self.templates[index].match(relative)
            if values is not None:
                yield index, values
