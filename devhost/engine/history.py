"""History events in the Functions host's JSON shape (what the Python SDK replays).

Each builder returns a plain dict; `EventId` is the task id for scheduling events and -1 for
completions, which name their task in `TaskScheduledId` / `TimerId` / `Name` instead.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    """HistoryEventType of the SDK (azure/durable_functions/models/history/HistoryEventType.py)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse the timestamps the SDK writes (fireAt) and the ones this module writes."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def event(kind: EventType, at: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
            "Timestamp": format_time(at), **fields}


def execution_started(at: datetime, name: str, input_text: str | None,
                      parent: dict[str, Any] | None = None) -> dict[str, Any]:
    # The SDK reads `Version` from ExecutionStarted and fails without it.
    return event(EventType.EXECUTION_STARTED, at, Name=name, Input=input_text, Version="",
                 ParentInstance=parent)


def dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
