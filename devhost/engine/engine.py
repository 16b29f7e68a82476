"""The durable engine's client API: what the host layer (and tests) call on `DurableEngine`.

A SQLite task hub whose orchestrations replay through the SDK. Each call here checks what it
is asked against the store and commits one message or row; the scheduler (`scheduler.py`) runs
everything after that in its ticks, activity workers (`workers.py`) run activities, and
`queries.py` answers instance queries.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from devhost.engine import history as h
from devhost.engine.errors import (
    InstanceExists,
    InstanceNotFound,
    InstanceNotRunning,
    UnknownFunction,
)
from devhost.engine.history import EventType
from devhost.engine.model import EntityOp, Instance, Message, entity_id
from devhost.engine.options import EngineOptions, InstanceQuery
from devhost.engine.queries import page_of, query_rows
from devhost.engine.registry import Registry
from devhost.engine.runtime_status import TERMINAL, RuntimeStatus
from devhost.engine.scheduler import Scheduler
from devhost.engine.status import entity_status, history_events, instance_status
from devhost.engine.store import Store

DATABASE_FILE = "taskhub.sqlite3"


class DurableEngine:
    def __init__(self, data_dir: Path, task_hub: str, registry: Registry,
                 options: EngineOptions | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.task_hub = task_hub
        self.registry = registry
        self.options = options or EngineOptions()
        self._scheduler = Scheduler(registry, self.options)
        self._running = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, resume what was in flight and start the workers."""
        self._scheduler.start(Store(self.data_dir / DATABASE_FILE))
        self._running = True

    async def stop(self) -> None:
        """Stop the workers; a tick is synchronous, so no commit is ever cut in half."""
        if not self._running:
            return
        self._running = False
        await self._scheduler.stop()

    # --- orchestrations ----------------------------------------------------------------------

    async def start_orchestration(self, name: str, input_json: str | None,
                                  instance_id: str | None = None) -> str:
        if name not in self.registry.orchestrators:
            raise UnknownFunction(_unknown_function_message(name, "orchestrator", self.registry.orchestrators),
                                  kind="orchestrator")
        instance_id = instance_id or uuid.uuid4().hex
        existing = self._scheduler.load(instance_id, with_history=False)
        if existing is not None and self.options.overridable_states.refuses(existing.status):
            # DurableTask.AzureStorage's text (AzureStorageOrchestrationService.cs,
            # CreateTaskOrchestrationAsync), which the extension passes on.
            raise InstanceExists(
                f"An Orchestration instance with the status {existing.status} already exists.")
        self._scheduler.create(instance_id, name, input_json, recreate=existing is not None)
        return instance_id

    async def get_status(self, instance_id: str, *, show_input: bool = True,
                         show_history: bool = False,
                         show_history_output: bool = False) -> dict[str, Any] | None:
        store = self._scheduler.store
        if instance_id.startswith("@"):
            row = store.entity_row(instance_id)
            return None if row is None else entity_status(instance_id, row[2], row[3])
        inst = self._scheduler.load(instance_id, with_history=False)
        if inst is None:
            return None
        status = instance_status(inst, show_input=show_input)
        if show_history:
            # As the extension: no history for a Pending instance (DurableClient.cs).
            status["historyEvents"] = None if inst.status is RuntimeStatus.PENDING else history_events(
                store.history_texts(instance_id), show_output=show_history_output,
                show_input=show_input)
        return status

    async def query_instances(self, query: InstanceQuery) -> tuple[list[dict[str, Any]],
                                                                    str | None]:
        return page_of(query_rows(self._scheduler.store, query), query)

    async def raise_event(self, instance_id: str, event_name: str,
                          data_json: str | None) -> None:
        self._require_live(instance_id)
        event = h.event(EventType.EVENT_RAISED, h.utc_now(), Name=event_name, Input=data_json)
        self._scheduler.send(Message(instance_id, event, external=True))

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        self._require_live(instance_id)
        self._scheduler.send(Message(instance_id, h.event(
            EventType.EXECUTION_TERMINATED, h.utc_now(), Input=reason)))

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        self._require_live(instance_id)
        self._scheduler.send(Message(instance_id, h.event(
            EventType.EXECUTION_SUSPENDED, h.utc_now(), Reason=reason)))

    async def resume(self, instance_id: str, reason: str | None) -> None:
        self._require_live(instance_id)
        self._scheduler.send(Message(instance_id, h.event(
            EventType.EXECUTION_RESUMED, h.utc_now(), Reason=reason)))

    async def rewind(self, instance_id: str, reason: str | None = None) -> None:
        """Rewind a failed instance: only what failed runs again (Scheduler.rewind)."""
        inst = self._scheduler.load(instance_id, with_history=False)
        if inst is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' was found.")
        if inst.status is not RuntimeStatus.FAILED:
            raise InstanceNotRunning("The rewind operation is only supported on failed orchestration instances.")
        self._scheduler.rewind(instance_id)

    async def purge(self, instance_id: str) -> int:
        if self._scheduler.load(instance_id, with_history=False) is None:
            return 0
        self._scheduler.purge([instance_id])
        return 1

    async def purge_many(self, query: InstanceQuery) -> int:
        ids = [iid for _, iid, _ in query_rows(self._scheduler.store, query, entities=False)]
        if ids:
            self._scheduler.purge(ids)
        return len(ids)

    # --- entities ----------------------------------------------------------------------------

    async def signal_entity(self, name: str, key: str, operation: str,
                            input_json: str | None) -> None:
        if self.registry.entity(name) is None:
            raise UnknownFunction(_unknown_function_message(name, "entity", self.registry.entities),
                                  kind="entity")
        self._scheduler.signal(EntityOp(entity_id(name, key), operation, input_json, signal=True))

    async def read_entity(self, name: str, key: str) -> tuple[bool, str | None]:
        exists, state, _ = self._scheduler.entity_state(entity_id(name, key))
        return exists, state

    # --- helpers -----------------------------------------------------------------------------

    def _require_live(self, instance_id: str) -> Instance:
        inst = self._scheduler.load(instance_id, with_history=False)
        if inst is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' was found.")
        if inst.status in TERMINAL:
            raise InstanceNotRunning(
                f"The instance '{instance_id}' is {inst.status} and cannot take this operation.")
        return inst


def _unknown_function_message(name: str, kind: str, known: Any) -> str:
    """The extension's text (DurableTaskExtension.cs, GetInvalidOrchestratorFunctionMessage and
    GetInvalidEntityFunctionMessage)."""
    names = sorted(known)
    message = f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. Additional info: "
    if names:
        listed = "', '".join(names)
        return message + f"The following are the known {kind} functions: '{listed}'."
    return message + f"No {kind} functions are currently registered!"
