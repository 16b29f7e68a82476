"""Status objects of the Durable HTTP API, built from stored rows."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from devhost.engine.history import EventType
from devhost.engine.model import Instance
from devhost.engine.runtime_status import RuntimeStatus

# Completions merged into the event that scheduled them (the extension's history conversion).
_SCHEDULING = {EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
               EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
               EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
               EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED}
_WITH_RESULT = {EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                EventType.EXECUTION_COMPLETED}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_json_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def instance_status(inst: Instance, *, show_input: bool = True) -> dict[str, Any]:
    return {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status.value,
        "input": parse_json_text(inst.input) if show_input else None,
        "customStatus": parse_json_text(inst.custom_status),
        "output": parse_json_text(inst.output),
        "createdTime": iso(inst.created),
        "lastUpdatedTime": iso(inst.updated),
    }


def entity_status(entity_id: str, created: float, updated: float) -> dict[str, Any]:
    # Entities are listed like instances, always Running, as on Azure.
    return {
        "name": entity_id.split("@")[1],
        "instanceId": entity_id,
        "runtimeStatus": RuntimeStatus.RUNNING.value,
        "input": None,
        "customStatus": None,
        "output": None,
        "createdTime": iso(created),
        "lastUpdatedTime": iso(updated),
    }


def history_events(texts: list[str], *, show_output: bool, show_input: bool = True) -> list[dict[str, Any]]:
    """The HTTP API's `historyEvents`, shaped as the extension's GetDurableOrchestrationStatusAsync
    (ContextImplementations/DurableClient.cs) shapes them.

    A completion (TaskCompleted/Failed, SubOrchestrationInstanceCompleted/Failed) takes its
    scheduling event's `FunctionName`, `ScheduledTime` and (with showInput) `Input`, and that
    scheduling event is dropped; one still unanswered stays. `TaskScheduledId`, `Version`,
    `EventId`, `IsPlayed` and `TimerId` go; Orchestrator(Started|Completed) go; results stay only
    with showHistoryOutput; inputs go only with showInput=false.
    """
    events = [json.loads(text) for text in texts]
    scheduling: dict[tuple[EventType, int], int] = {}  # (kind, EventId) -> index
    merged: set[int] = set()
    shown: list[dict[str, Any] | None] = []
    for index, event in enumerate(events):
        kind = EventType(event["EventType"])
        item: dict[str, Any] = {"EventType": _pascal(kind.name)}
        item.update((k, v) for k, v in event.items() if k not in ("EventType", "EventId", "IsPlayed"))
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            shown.append(None)
            continue
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
            scheduling[(kind, event["EventId"])] = index
            item.pop("Version", None)
        elif kind in _SCHEDULING:
            origin_index = scheduling.get((_SCHEDULING[kind], item.pop("TaskScheduledId", -2)))
            if origin_index is not None:
                origin = events[origin_index]
                item["ScheduledTime"] = origin.get("Timestamp")
                item["FunctionName"] = origin.get("Name")
                if show_input:
                    item["Input"] = origin.get("Input")
                merged.add(origin_index)
        elif kind is EventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif kind is EventType.TIMER_FIRED:
            item.pop("TimerId", None)
        if kind in _WITH_RESULT:
            if show_output:
                item["Result"] = parse_json_text(item.get("Result"))
            else:
                item.pop("Result", None)
        if not show_input:
            item.pop("Input", None)
        shown.append(item)
    return [item for index, item in enumerate(shown) if item is not None and index not in merged]


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def encode_token(created: float, instance_id: str) -> str:
    raw = json.dumps([created, instance_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> tuple[float, str] | None:
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(created), str(instance_id)
    except (ValueError, TypeError):
        return None
