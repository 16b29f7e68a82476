"""Plain data the engine moves between its store, its episodes and its workers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devhost.engine.runtime_status import RuntimeStatus


@dataclass
class Message:
    """One message in an orchestration's inbox; `event` is the history event it becomes."""

    instance_id: str
    event: dict[str, Any]
    execution_id: str | None = None  # set when only one execution may consume it
    row_id: int | None = None  # inbox row, once persisted
    work_id: int | None = None  # the work row this message completes (deleted with it)
    visible_at: float = 0.0  # epoch seconds; timers are invisible until then
    external: bool = False  # raised by a client: carried over by continue_as_new

    def body(self) -> str:
        return json.dumps({"e": self.event, "w": self.work_id, "x": self.external},
                          separators=(",", ":"))

    @classmethod
    def from_row(cls, row_id: int, instance_id: str, execution_id: str | None,
                 visible_at: float, body: str) -> "Message":
        data = json.loads(body)
        return cls(instance_id, data["e"], execution_id, row_id, data.get("w"), visible_at,
                   bool(data.get("x")))


@dataclass
class Instance:
    """An orchestration instance: its status row plus the replay bookkeeping of its execution."""

    instance_id: str
    name: str
    execution_id: str
    status: RuntimeStatus
    input: str | None
    output: str | None = None
    custom_status: str | None = None
    created: float = 0.0
    updated: float = 0.0
    parent: dict[str, Any] | None = None  # {"instanceId", "executionId", "taskId"}
    runtime: dict[str, Any] = field(default_factory=dict)
    history: list[str] | None = None  # committed history events as JSON text, loaded lazily

    def row(self) -> tuple[Any, ...]:
        return (
            self.instance_id, self.name, self.execution_id, self.status.value, self.input,
            self.output, self.custom_status, self.created, self.updated,
            None if self.parent is None else json.dumps(self.parent),
            json.dumps(self.runtime, separators=(",", ":")),
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "Instance":
        (instance_id, name, execution_id, status, input_text, output, custom_status, created,
         updated, parent, runtime) = row
        return cls(instance_id, name, execution_id, RuntimeStatus(status), input_text, output,
                   custom_status, created, updated, None if parent is None else json.loads(parent),
                   json.loads(runtime))


def new_runtime() -> dict[str, Any]:
    """Replay bookkeeping of one execution, mirroring how the SDK numbers its tasks."""
    return {
        "seq": 0,  # next task id
        "actions": 0,  # actions of the cumulative list already turned into work
        "retries": {},  # retry key -> RetryState dict
        "retry_children": {},  # running attempt task id -> retry key
        "retry_timers": {},  # retry timer id -> retry key
        "waits": {},  # external event name -> WaitForExternalEvent actions seen
        "received": {},  # external event name -> client-raised events received
        "last_started": 0.0,  # newest OrchestratorStarted time, kept monotonic
    }


@dataclass(frozen=True)
class WorkItem:
    """An activity execution (or the built-in HTTP activity) scheduled by an orchestration."""

    work_id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    kind: str = "activity"  # or "http"

    def body(self) -> str:
        return json.dumps({"t": self.task_id, "n": self.name, "i": self.input, "k": self.kind},
                          separators=(",", ":"))

    @classmethod
    def from_row(cls, work_id: int, instance_id: str, execution_id: str, body: str) -> "WorkItem":
        data = json.loads(body)
        return cls(work_id, instance_id, execution_id, data["t"], data["n"], data["i"], data["k"])


@dataclass(frozen=True)
class EntityOp:
    """One operation for an entity: a call (answered to the caller) or a signal."""

    entity_id: str  # "@name@key", name lower-cased
    operation: str
    input: str | None  # JSON text
    signal: bool
    caller_instance: str | None = None
    caller_execution: str | None = None
    request_id: str | None = None

    def body(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> "EntityOp":
        return cls(**json.loads(body))


def entity_id(name: str, key: str) -> str:
    # The SDK writes "@{name.lower()}@{key}"; lower-case here too so every path agrees.
    return f"@{name.lower()}@{key}"


def split_entity_id(value: str) -> tuple[str, str]:
    _, name, key = value.split("@", 2)
    return name.lower(), key
