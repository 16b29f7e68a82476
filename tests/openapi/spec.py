"""docs/openapi.yaml as the tests read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def documented() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation the file describes."""
    return [(method.upper(), path, operation) for path, item in documented()["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS]
