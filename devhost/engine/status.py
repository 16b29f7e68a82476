"""Status objects of the Durable HTTP API, built from stored rows."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from devhost.engine.history import EventType
from devhost.engine.model import Instance
from devhost.engine.runtime_status import RuntimeStatus

# What the HTTP API's historyEvents leaves out, as the extension does.
HIDDEN_EVENTS = {EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED,
                 EventType.TASK_SCHEDULED}
RESULT_FIELDS = ("Result", "Input", "Details")


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


def history_events(texts: list[str], *, show_output: bool) -> list[dict[str, Any]]:
    """The HTTP API's history: names for event types, completions joined to their schedule."""
    scheduled: dict[int, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for text in texts:
        event = json.loads(text)
        kind = EventType(event["EventType"])
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
            scheduled[event["EventId"]] = event
        if kind in HIDDEN_EVENTS:
            continue
        shown: dict[str, Any] = {"EventType": _pascal(kind.name), "Timestamp": event["Timestamp"]}
        origin = scheduled.get(event.get("TaskScheduledId", -2))
        if origin is not None:
            shown["FunctionName"] = origin.get("Name")
            shown["ScheduledTime"] = origin.get("Timestamp")
        for key, value in event.items():
            if key in ("EventType", "EventId", "IsPlayed", "Timestamp", "ParentInstance"):
                continue
            if key == "Name":
                shown["FunctionName" if kind in (EventType.EXECUTION_STARTED,
                                                 EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)
                      else "Name"] = value
                continue
            if key in RESULT_FIELDS:
                if show_output:
                    shown[key] = parse_json_text(value) if key != "Details" else value
                continue
            shown[key] = value
        events.append(shown)
    return events


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
