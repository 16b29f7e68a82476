"""Replay recorded histories against an app's orchestrator code: the check that a new release of
an orchestrator still fits the instances already running on the old one.

The Functions host hands the SDK an orchestration's whole history and the SDK rebuilds every
action from the start; the extension then compares the replayed actions with what the history
says was scheduled, and fails the instance on the first difference ("non-deterministic workflow
detected"). `replay_history` does that comparison for one recorded history: the code must
schedule the same kinds of step, with the same names, in the same order.

A recorded history is a JSON object: `{"orchestrator": name, "instanceId": id, "input": the
input as JSON text, "history": [history events in the host's JSON shape]}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from devhost.engine.episode import (
    ACTIVITY_ACTIONS,
    CALL_ENTITY,
    CALL_HTTP,
    CREATE_TIMER,
    HTTP_ACTIVITY,
    REPLAY_SCHEMA,
    SIGNAL_ENTITY,
    SUB_ORCHESTRATION_ACTIONS,
    call_orchestrator,
    flatten_actions,
)
from devhost.engine.history import EventType

# What a scheduling history event records, as (kind, name).
_SCHEDULED = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "orchestration",
    EventType.TIMER_CREATED: "timer",
    EventType.EVENT_SENT: "entity",
}


@dataclass(frozen=True)
class ReplayResult:
    orchestrator: str
    instance_id: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _step_of_event(event: dict[str, Any]) -> tuple[str, str | None] | None:
    try:
        kind = _SCHEDULED.get(EventType(event["EventType"]))
    except ValueError:
        return None
    if kind is None:
        return None
    name = event.get("Name") if kind != "timer" else None
    if kind == "activity" and name == HTTP_ACTIVITY:
        return "http", None
    return kind, name


def _step_of_action(action: dict[str, Any]) -> tuple[str, str | None] | None:
    kind = action.get("actionType")
    if kind in ACTIVITY_ACTIONS:
        return "activity", action.get("functionName")
    if kind in SUB_ORCHESTRATION_ACTIONS:
        return "orchestration", action.get("functionName")
    if kind == CREATE_TIMER:
        return "timer", None
    if kind in (CALL_ENTITY, SIGNAL_ENTITY):
        return "entity", str(action.get("operation") or "")
    if kind == CALL_HTTP:
        return "http", None
    return None  # waiting for an event or continuing as new schedules nothing


def replay_history(handle: Callable[[str], str], recorded: dict[str, Any]) -> ReplayResult:
    """Replay one recorded history through `handle` (the SDK's `Orchestrator.handle`)."""
    history = list(recorded["history"])
    context = {
        "history": history, "instanceId": recorded["instanceId"], "isReplaying": True,
        "parentInstanceId": None, "input": recorded.get("input"), "upperSchemaVersion": REPLAY_SCHEMA,
    }
    state = call_orchestrator(handle, json.dumps(context))
    problems: list[str] = []
    if state.get("error"):
        problems.append(f"the orchestrator failed while replaying: {state['error']}")
    replayed = [s for s in map(_step_of_action, flatten_actions(state.get("actions") or [])) if s]
    recorded_steps = [s for s in map(_step_of_event, history) if s]
    for index, expected in enumerate(recorded_steps):
        if index >= len(replayed):
            problems.append(f"step {index}: the history scheduled {_show(expected)}, the code schedules nothing more")
            break
        if replayed[index] != expected:
            problems.append(f"step {index}: the history scheduled {_show(expected)}, "
                            f"the code schedules {_show(replayed[index])}")
            break
    return ReplayResult(str(recorded.get("orchestrator", "")), str(recorded["instanceId"]), tuple(problems))


def _show(step: tuple[str, str | None]) -> str:
    kind, name = step
    return f"{kind} {name!r}" if name is not None else kind


def read_histories(path: Path) -> Iterator[dict[str, Any]]:
    """Recorded histories from a JSON file, an NDJSON file (one per line) or a directory of *.json."""
    for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
        text = file.read_text(encoding="utf-8")
        try:
            yield json.loads(text)
        except json.JSONDecodeError:
            yield from (json.loads(line) for line in text.splitlines() if line.strip())
