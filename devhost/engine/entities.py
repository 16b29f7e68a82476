"""One entity batch through the SDK's Entity.handle, in the extension's JSON shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from devhost.engine.model import EntityOp, split_entity_id


@dataclass
class BatchResult:
    exists: bool
    state: str | None  # JSON text
    results: list[tuple[bool, str]]  # (is_error, result JSON text), one per operation


def run_batch(handle: Callable[[str], str] | None, entity_id: str, exists: bool,
              state: str | None, ops: list[EntityOp]) -> BatchResult:
    name, key = split_entity_id(entity_id)
    if handle is None:
        error = json.dumps(f"The entity '{name}' does not exist in this app.")
        return BatchResult(exists, state, [(True, error)] * len(ops))
    request = {
        "self": {"name": name, "key": key},
        "state": state if exists else None,
        "exists": exists,
        # The SDK decodes an input twice (json.loads, then df_loads), so it is sent as a
        # JSON string holding JSON text; "null" text stands for no input.
        "batch": [{"name": op.operation,
                   "input": json.dumps(op.input if op.input is not None else "null")}
                  for op in ops],
    }
    try:
        response = json.loads(handle(json.dumps(request)))
    except Exception as exc:  # noqa: BLE001 - a broken entity fails its whole batch
        error = json.dumps(f"{type(exc).__name__}: {exc}")
        return BatchResult(exists, state, [(True, error)] * len(ops))
    results: list[tuple[bool, str]] = []
    for item in response.get("results") or []:
        result = item.get("result")
        results.append((bool(item.get("isError")), "null" if result is None else str(result)))
    while len(results) < len(ops):
        results.append((True, json.dumps("The entity did not answer this operation.")))
    new_exists = bool(response.get("entityExists"))
    new_state = response.get("entityState")
    if new_state is not None and not isinstance(new_state, str):
        new_state = json.dumps(new_state)
    return BatchResult(new_exists, new_state if new_exists else None, results)


def response_input(is_error: bool, result_text: str) -> str:
    """EventRaised.Input of an entity response, as the SDK's ResponseMessage reads it."""
    payload: dict[str, Any] = {"result": result_text}
    if is_error:
        payload["exceptionType"] = "Exception"
    return json.dumps(payload)
