"""Just enough of Bicep to check infra/ without a compiler (none can be installed here).

It reads the few shapes infra/ is written in: `resource sym 'Type@version'`, `param name type`,
`output name type = ...`, `module sym 'path' = { params: {...} }`, a `var roles = {...}` table of
role definition GUIDs, role assignments naming `roles.<key>` and `principalId: ...`, and the
`appSettings` array of `{ name: '...' value: ... }` items. Anything else is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROLE_ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"

_RESOURCE = re.compile(r"^resource\s+(\w+)\s+'([^'@]+)@([^']+)'(\s+existing)?", re.MULTILINE)
_PARAM = re.compile(r"^param\s+(\w+)\s+(\w+)(\s*=\s*(.+))?$", re.MULTILINE)
_OUTPUT = re.compile(r"^output\s+(\w+)\s+\w+\s*=\s*(.+)$", re.MULTILINE)
_MODULE = re.compile(r"^module\s+(\w+)\s+'([^']+)'", re.MULTILINE)
_TOP_LEVEL = re.compile(r"^(resource|module|output|param|var|targetScope|@|//)", re.MULTILINE)
_ROLE_ENTRY = re.compile(r"^\s*(\w+):\s*'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'", re.MULTILINE)
_SETTING = re.compile(r"name:\s*'([^']+)'\s*\n\s*value:\s*(.+)")


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: str  # from the declaration to the next top-level statement
    comment: str  # the `//` lines right above it


@dataclass(frozen=True)
class RoleAssignment:
    file: str
    symbol: str
    role_id: str
    principal: str  # the principalId expression
    scope: str  # the scope expression ('' = the deployment's own scope)
    comment: str


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    decorators: str  # the decorator lines right above it


class BicepFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")

    def _block(self, start: int) -> str:
        """From `start` to the next top-level statement (blocks end where the next one starts)."""
        line_end = self.text.find("\n", start)
        following = _TOP_LEVEL.search(self.text, line_end + 1) if line_end >= 0 else None
        return self.text[start : following.start() if following else len(self.text)]

    def _comment_above(self, start: int) -> str:
        lines = self.text[:start].rstrip("\n").split("\n")
        comment: list[str] = []
        for line in reversed(lines):
            if not line.startswith("//"):
                break
            comment.insert(0, line[2:].strip())
        return " ".join(comment)

    def resources(self) -> list[Resource]:
        return [
            Resource(m[1], m[2], m[3], bool(m[4]), self._block(m.start()), self._comment_above(m.start()))
            for m in _RESOURCE.finditer(self.text)
        ]

    def params(self) -> dict[str, Param]:
        found = {}
        for m in _PARAM.finditer(self.text):
            above = self.text[: m.start()].rstrip("\n").split("\n")
            decorators = []
            for line in reversed(above):
                if not line.startswith("@"):
                    break
                decorators.insert(0, line)
            found[m[1]] = Param(m[1], m[2], m[4], "\n".join(decorators))
        return found

    def outputs(self) -> dict[str, str]:
        return {m[1]: m[2] for m in _OUTPUT.finditer(self.text)}

    def modules(self) -> dict[str, tuple[str, set[str]]]:
        """symbol -> (path, names of the params it passes)."""
        found = {}
        for m in _MODULE.finditer(self.text):
            block = self._block(m.start())
            params = block.split("params: {", 1)[1] if "params: {" in block else ""
            found[m[1]] = (m[2], set(re.findall(r"^\s{4}(\w+):", params, re.MULTILINE)))
        return found

    def role_ids(self) -> dict[str, str]:
        """The `var roles = {...}` table: key -> role definition GUID."""
        table = re.search(r"^var roles = \{(.*?)^\}", self.text, re.MULTILINE | re.DOTALL)
        return dict(_ROLE_ENTRY.findall(table[1])) if table else {}

    def role_assignments(self) -> list[RoleAssignment]:
        table = self.role_ids()
        found = []
        for resource in self.resources():
            if resource.type != ROLE_ASSIGNMENT_TYPE:
                continue
            role_key = re.search(r"roleDefinitionId:.*roles\.(\w+)", resource.body)
            principal = re.search(r"principalId:\s*(.+)", resource.body)
            scope = re.search(r"^\s{2}scope:\s*(.+)", resource.body, re.MULTILINE)
            found.append(RoleAssignment(
                file=self.path.name,
                symbol=resource.symbol,
                role_id=table.get(role_key[1], "") if role_key else "",
                principal=principal[1].strip() if principal else "",
                scope=scope[1].strip() if scope else "",
                comment=resource.comment,
            ))
        return found

    def app_settings(self) -> dict[str, str]:
        """name -> value expression, from the `appSettings: [...]` array."""
        start = self.text.find("appSettings: [")
        if start < 0:
            return {}
        end = self.text.index("\n      ]", start)
        return {name: value.strip() for name, value in _SETTING.findall(self.text[start:end])}

    def allowed(self, param: str) -> list[str]:
        """The `@allowed([...])` values of a param."""
        decorators = self.params()[param].decorators
        allowed = re.search(r"@allowed\(\[(.*?)\]\)", decorators, re.DOTALL)
        return re.findall(r"'([^']*)'", allowed[1]) if allowed else []


def literal(expression: str) -> str | None:
    """The value of a Bicep string literal ('...'), or None for any other expression."""
    match = re.fullmatch(r"'((?:[^'\\]|\\.)*)'", expression.strip())
    return match[1] if match else None
