"""The scheduler: the one pump that turns ready work into ticks, and what a tick stages.

Each tick takes finished activities, runs one episode for each instance that has messages (and
one batch for each entity that has operations), commits all of it in one transaction and only
then acts on it (opens activities, arms timers, delivers messages). So nothing outside the
database is ever ahead of it, and a kill at any moment loses nothing committed. The in-memory
state here is only a view of the store: `start` rebuilds it from there.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import json
import random
import time
import uuid
from typing import Any, Callable, Coroutine

from devhost.engine import history as h
from devhost.engine.entities import response_input, run_batch
from devhost.engine.episode import HTTP_ACTIVITY, NewChild, Outcome, run_episode
from devhost.engine.history import EventType
from devhost.engine.model import (
    EntityOp,
    Instance,
    Message,
    WorkItem,
    new_runtime,
    split_entity_id,
)
from devhost.engine.options import EngineOptions
from devhost.engine.registry import Registry
from devhost.engine.runtime_status import TERMINAL, RuntimeStatus
from devhost.engine.store import Batch, Store
from devhost.engine.workers import ActivityWorkers

# One tick keeps the loop (and so the HTTP server) busy; bound it in count and in time.
MAX_EPISODES_PER_TICK = 64
TICK_BUDGET_SECONDS = 0.05
# Between two ticks the pump lets work gather for a moment: under load a tick then takes many
# episodes in one commit instead of a few each (a first tick after idle still runs at once).
TICK_GATHER_SECONDS = 0.001
# An instance whose last episode cost more than this waits (up to its cost, at most the cap)
# for more of its own activities to finish before it replays again: a fan-in of n results then
# takes a few replays instead of n, each of them over the whole history.
DEFER_MIN_COST_SECONDS = 0.002
DEFER_MAX_SECONDS = 0.25

# What a commit does once it is durable: deliver a message, arm a timer, open an activity.
Effect = Callable[[], None]


class Scheduler:
    """Owns the store, the in-memory view of it and the pump; the client API stages through it."""

    def __init__(self, registry: Registry, options: EngineOptions) -> None:
        self.registry = registry
        self.options = options
        self._log = options.logger
        self._random = random.Random(options.faults.seed)
        self._store: Store | None = None
        self.workers = ActivityWorkers(registry, options, self._spawn, self._report)
        self._wake: asyncio.Event | None = None
        self._timer_wake: asyncio.Event | None = None
        self._reset_memory()

    def _reset_memory(self) -> None:
        self._cache: dict[str, Instance] = {}  # running instances, with their history
        self._entity_cache: dict[str, tuple[bool, str | None, float]] = {}
        self._pending: dict[str, list[Message]] = {}
        self._ready: dict[str, None] = {}  # insertion-ordered set
        self._completions: list[tuple[int, dict[str, Any]]] = []
        self._episode_cost: dict[str, float] = {}  # seconds of the last SDK call
        self._deferred_until: dict[str, float] = {}
        self._entity_queues: dict[str, list[tuple[int, EntityOp]]] = {}
        self._entity_ready: dict[str, None] = {}
        self._timers: list[tuple[float, int, Message]] = []
        self._timer_order = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, store: Store) -> None:
        """Take over `store`, resume what was in flight and start the pump and the timers."""
        self._reset_memory()
        self._store = store
        self._wake = asyncio.Event()
        self._timer_wake = asyncio.Event()
        self.workers.start()
        now = time.time()
        for inbox_row in store.inbox_rows():
            message = Message.from_row(*inbox_row)
            if message.visible_at > now:
                self._arm_timer(message)
            else:
                self._deliver(message)
        for work_row in store.work_rows():
            # at-least-once: activities that never reported back run again
            self.workers.open(WorkItem.from_row(*work_row))
        for row_id, _, body in store.entity_inbox_rows():
            self._queue_entity_op(row_id, EntityOp.from_body(body))
        self._spawn(self._pump())
        self._spawn(self._timer_loop())
        self._wake.set()

    async def stop(self) -> None:
        """Stop the pump, the timers and the workers; a tick is synchronous, so no commit is
        ever cut in half. Closes the store."""
        self.workers.stop_reporting()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.workers.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("The durable engine is not started.")
        return self._store

    # --- what the client API uses ------------------------------------------------------------

    def load(self, instance_id: str, *, with_history: bool) -> Instance | None:
        cached = self._cache.get(instance_id)
        if cached is not None:
            return cached
        store = self.store
        row = store.instance_row(instance_id)
        if row is None:
            return None
        inst = Instance.from_row(row)
        if with_history:
            inst.history = store.history_texts(instance_id)
            if inst.status not in TERMINAL:
                self._cache[instance_id] = inst
        return inst

    def create(self, instance_id: str, name: str, input_json: str | None, *,
               recreate: bool) -> None:
        """Create (or, finished, replace) a top-level instance and commit it."""
        batch = Batch()
        effects: list[Effect] = []
        self._create_instance(instance_id, name, input_json, None, batch, effects,
                              recreate=recreate)
        self._commit(batch, effects)

    def send(self, message: Message) -> None:
        """Commit one message for an instance, then deliver it (or arm it, if it is a timer)."""
        batch = Batch()
        effects: list[Effect] = []
        self._stage_message(message, batch, effects)
        self._commit(batch, effects)

    def signal(self, op: EntityOp) -> None:
        """Commit one entity operation, then queue it."""
        batch = Batch()
        effects: list[Effect] = []
        self._stage_entity_op(op, batch, effects)
        self._commit(batch, effects)

    def purge(self, instance_ids: list[str]) -> None:
        self.store.purge_instances(instance_ids)
        for instance_id in instance_ids:
            self._cache.pop(instance_id, None)
            self._pending.pop(instance_id, None)
            self._ready.pop(instance_id, None)

    def rewind(self, instance_id: str) -> None:
        """Rewind a failed instance as DurableTask.AzureStorage does (AzureTableTrackingStore.
        RewindHistoryAsync): its failure events and ExecutionCompleted(Failed) leave the
        history, failed sub-orchestrations are rewound too, and only the failed activities run
        again; what had succeeded stays in the history and is replayed, not re-run."""
        batch = Batch()
        effects: list[Effect] = []
        self._stage_rewind(instance_id, batch, effects)
        self._commit(batch, effects)

    def _stage_rewind(self, instance_id: str, batch: Batch, effects: list[Effect]) -> None:
        inst = self.load(instance_id, with_history=True)
        if inst is None or inst.status is not RuntimeStatus.FAILED:
            return
        events = [json.loads(text) for text in inst.history or []]
        origins = {(e["EventType"], e["EventId"]): e for e in events
                   if e["EventType"] in (EventType.TASK_SCHEDULED,
                                         EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)}
        kept: list[dict[str, Any]] = []
        failed_tasks: list[dict[str, Any]] = []
        failed_children: list[str] = []
        for event in events:
            kind = event["EventType"]
            task = event.get("TaskScheduledId")
            if kind == EventType.TASK_FAILED and (EventType.TASK_SCHEDULED, task) in origins:
                failed_tasks.append(origins[(EventType.TASK_SCHEDULED, task)])
                continue
            created = origins.get((EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, task))
            if kind == EventType.SUB_ORCHESTRATION_INSTANCE_FAILED and created is not None:
                failed_children.append(created["InstanceId"])
                continue
            if (kind == EventType.EXECUTION_COMPLETED
                    and event.get("OrchestrationStatus") == RuntimeStatus.FAILED.value):
                continue
            kept.append(event)
        inst.status = RuntimeStatus.RUNNING
        inst.output = None
        inst.updated = time.time()
        inst.history = [h.dumps(event) for event in kept]
        batch.history_resets.append(instance_id)
        batch.history.extend((instance_id, i, text) for i, text in enumerate(inst.history))
        batch.instances[instance_id] = inst.row()
        effects.insert(0, lambda: self._cache.__setitem__(instance_id, inst))
        for origin in failed_tasks:
            kind = "http" if origin.get("Name") == HTTP_ACTIVITY else "activity"
            item = WorkItem(self.store.new_id("work"), instance_id, inst.execution_id,
                            origin["EventId"], origin["Name"], origin.get("Input"), kind)
            batch.work.append((item.work_id, item.instance_id, item.execution_id, item.body()))
            effects.append(functools.partial(self.workers.open, item))
        for child_id in failed_children:
            self._stage_rewind(child_id, batch, effects)
        if not failed_tasks and not failed_children:
            # The orchestrator's own code failed: replay it (as the rewind message does on Azure).
            wake = h.event(EventType.GENERIC_EVENT, h.utc_now(), Data="Rewound")
            self._stage_message(Message(instance_id, wake, inst.execution_id), batch, effects)

    def entity_state(self, target: str) -> tuple[bool, str | None, float]:
        """(exists, state JSON text, created) of entity `target`."""
        cached = self._entity_cache.get(target)
        if cached is not None:
            return cached
        row = self.store.entity_row(target)
        value = (False, None, 0.0) if row is None else (True, row[1], row[2])
        self._entity_cache[target] = value
        return value

    # --- the pump ----------------------------------------------------------------------------

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._completions or self._ready or self._entity_ready:
                self._tick()
                # HTTP handlers and activities run between ticks, and more work gathers.
                await asyncio.sleep(TICK_GATHER_SECONDS)

    def _tick(self) -> None:
        batch = Batch()
        effects: list[Effect] = []
        completions, self._completions = self._completions, []
        for work_id, event in completions:
            item = self.workers.answered(work_id)
            if item is None:
                continue  # a duplicate delivery of an activity that already answered
            self._deliver(Message(item.instance_id, event, item.execution_id, work_id=work_id))
        ready = list(itertools.islice(self._ready, MAX_EPISODES_PER_TICK))
        tick_started = time.perf_counter()
        for instance_id in ready:
            if time.perf_counter() - tick_started > TICK_BUDGET_SECONDS:
                break  # the rest stay ready for the next tick
            del self._ready[instance_id]
            if self._defer(instance_id):
                continue
            self._deferred_until.pop(instance_id, None)
            messages = self._pending.pop(instance_id, [])
            if messages:
                self._stage_apart(f"Episode of instance {instance_id}", batch, effects,
                                  functools.partial(self._run_instance, instance_id, messages))
        entities = list(self._entity_ready)
        self._entity_ready.clear()
        for target in entities:
            self._stage_apart(f"Batch of entity {target}", batch, effects,
                              functools.partial(self._run_entity, target))
        self._commit(batch, effects)

    def _report(self, work_id: int, event: dict[str, Any]) -> None:
        """A worker's answer: committed by the next tick."""
        self._completions.append((work_id, event))
        assert self._wake is not None
        self._wake.set()

    def _stage_apart(self, what: str, batch: Batch, effects: list[Effect],
                     stage: Callable[[Batch, list[Effect]], None]) -> None:
        """Stage one episode or entity batch on its own, then add it to the tick's commit, so a
        failure cannot leave half of it there."""
        own_batch = Batch()
        own_effects: list[Effect] = []
        try:
            stage(own_batch, own_effects)
        except Exception:  # noqa: BLE001 - an engine bug must not stop other instances
            # Its messages stay in the store and are retried at the next start.
            self._log.exception("%s failed inside the engine", what)
            return
        batch.merge(own_batch)
        effects.extend(own_effects)

    def _defer(self, instance_id: str) -> bool:
        """Should this instance wait for more of its running activities before replaying?"""
        cost = self._episode_cost.get(instance_id, 0.0)
        if cost < DEFER_MIN_COST_SECONDS or not self.workers.open_count(instance_id):
            return False
        now = time.monotonic()
        deadline = self._deferred_until.get(instance_id)
        if deadline is None:
            deadline = now + min(cost, DEFER_MAX_SECONDS)
            self._deferred_until[instance_id] = deadline
            asyncio.get_running_loop().call_later(deadline - now, self._undefer, instance_id)
        return now < deadline

    def _undefer(self, instance_id: str) -> None:
        if self._pending.get(instance_id):
            self._ready[instance_id] = None
            if self._wake is not None:
                self._wake.set()

    def _commit(self, batch: Batch, effects: list[Effect]) -> None:
        self.store.commit(batch)
        for effect in effects:
            effect()

    # --- orchestration episodes --------------------------------------------------------------

    def _run_instance(self, instance_id: str, messages: list[Message], batch: Batch,
                      effects: list[Effect]) -> None:
        inst = self.load(instance_id, with_history=True)
        if inst is None:  # purged: whatever still arrives for it is dropped
            for message in messages:
                self._drop(message, batch)
            return
        function = self.registry.orchestrators.get(inst.name)
        started = time.perf_counter()
        outcome = run_episode(inst, messages, function.handle if function else None)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if outcome.ran_sdk:
            self._episode_cost[instance_id] = elapsed_ms / 1000
        if outcome.ran_sdk and self._should_crash():
            # Fault injection: the SDK ran, the commit never happens; the episode is replayed.
            self._pending[instance_id] = messages + self._pending.get(instance_id, [])
            self._ready[instance_id] = None
            self._log.info("Aborted episode of '%s' (Id=%s) before its commit (fault injection)",
                           inst.name, instance_id)
            return
        self._stage_outcome(inst, outcome, batch, effects)
        if outcome.ran_sdk:
            self._log_episode(outcome, elapsed_ms)

    def _should_crash(self) -> bool:
        rate = self.options.faults.crash_replay_rate
        return rate > 0 and self._random.random() < rate

    def _log_episode(self, outcome: Outcome, elapsed_ms: float) -> None:
        inst = outcome.instance
        final = inst.status in TERMINAL
        if outcome.replayed and not final and not self.options.verbose:
            return  # replays are noise unless asked for
        result = "Failed" if outcome.error else "Succeeded"
        self._log.info("Executed 'Functions.%s' (%s, Id=%s, Duration=%.1fms)%s", inst.name,
                       result, inst.instance_id, elapsed_ms,
                       f" -> {inst.status}" if final else "")

    def _stage_outcome(self, before: Instance, outcome: Outcome, batch: Batch,
                       effects: list[Effect]) -> None:
        inst = outcome.instance
        for message in outcome.consumed:
            self._drop(message, batch)
        for message in outcome.held:
            if message.row_id is None:
                self._persist(message, batch)
        if outcome.reset_history:
            batch.history_resets.append(inst.instance_id)
            base = 0
        else:
            base = len(before.history or [])
        stored = [h.dumps({**event, "IsPlayed": True}) for event in outcome.appended]
        batch.history.extend((inst.instance_id, base + i, text) for i, text in enumerate(stored))
        batch.instances[inst.instance_id] = inst.row()
        for work in outcome.work:
            item = WorkItem(self.store.new_id("work"), inst.instance_id,
                            inst.execution_id, work.task_id, work.name, work.input, work.kind)
            batch.work.append((item.work_id, item.instance_id, item.execution_id, item.body()))
            effects.append(functools.partial(self.workers.open, item))
        for child in outcome.children:
            self._stage_child(inst, child, batch, effects)
        for message in outcome.messages:
            self._stage_message(message, batch, effects)
        for op in outcome.entity_ops:
            self._stage_entity_op(op, batch, effects)
        held = outcome.held

        def update_cache() -> None:
            if outcome.reset_history:
                inst.history = []
            else:
                history = before.history if before.history is not None else []
                history.extend(stored)
                inst.history = history
            if inst.status in TERMINAL:
                self._cache.pop(inst.instance_id, None)
                self._episode_cost.pop(inst.instance_id, None)
            else:
                self._cache[inst.instance_id] = inst
            if held:
                self._pending[inst.instance_id] = held + self._pending.get(inst.instance_id, [])

        # The cache must be current before messages staged above are delivered.
        effects.insert(0, update_cache)

    def _stage_child(self, parent: Instance, child: NewChild, batch: Batch,
                     effects: list[Effect]) -> None:
        existing = self.load(child.instance_id, with_history=False)
        reason = None
        if child.name not in self.registry.orchestrators:
            reason = f"The orchestrator function '{child.name}' does not exist."
        elif existing is not None and self.options.overridable_states.refuses(existing.status):
            reason = f"An instance with ID '{child.instance_id}' already exists."
        if reason is not None:
            failed = h.event(EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, h.utc_now(),
                             TaskScheduledId=child.task_id, Reason=reason, Details=None)
            self._stage_message(Message(parent.instance_id, failed, parent.execution_id),
                                batch, effects)
            return
        link = {"instanceId": parent.instance_id, "executionId": parent.execution_id,
                "taskId": child.task_id}
        self._create_instance(child.instance_id, child.name, child.input, link, batch,
                              effects, recreate=existing is not None)

    def _create_instance(self, instance_id: str, name: str, input_json: str | None,
                         parent: dict[str, Any] | None, batch: Batch, effects: list[Effect],
                         *, recreate: bool) -> None:
        now = time.time()
        inst = Instance(instance_id, name, uuid.uuid4().hex, RuntimeStatus.PENDING, input_json,
                        created=now, updated=now, parent=parent, runtime=new_runtime(),
                        history=[])
        if recreate:
            batch.history_resets.append(instance_id)
            batch.inbox_purges.append(instance_id)
        batch.instances[instance_id] = inst.row()
        parent_ref = None if parent is None else {
            "OrchestrationInstance": {"InstanceId": parent["instanceId"]}}
        started = h.execution_started(h.utc_now(), name, input_json, parent_ref)

        def register() -> None:
            self._pending.pop(instance_id, None)
            self._cache[instance_id] = inst

        effects.append(register)
        self._stage_message(Message(instance_id, started, inst.execution_id), batch, effects)

    # --- messages and timers -----------------------------------------------------------------

    def _stage_message(self, message: Message, batch: Batch, effects: list[Effect]) -> None:
        self._persist(message, batch)
        if message.visible_at > time.time():
            effects.append(lambda: self._arm_timer(message))
        else:
            effects.append(lambda: self._deliver(message))

    def _persist(self, message: Message, batch: Batch) -> None:
        if message.work_id is not None:
            batch.work_deletes.append(message.work_id)  # the inbox row now stands for it
            message.work_id = None
        message.row_id = self.store.new_id("inbox")
        batch.inbox.append((message.row_id, message.instance_id, message.execution_id,
                            message.visible_at, message.body()))

    def _drop(self, message: Message, batch: Batch) -> None:
        if message.row_id is not None:
            batch.inbox_deletes.append(message.row_id)
        if message.work_id is not None:
            batch.work_deletes.append(message.work_id)

    def _deliver(self, message: Message) -> None:
        self._pending.setdefault(message.instance_id, []).append(message)
        self._ready[message.instance_id] = None
        if self._wake is not None:
            self._wake.set()

    def _arm_timer(self, message: Message) -> None:
        heapq.heappush(self._timers, (message.visible_at, next(self._timer_order), message))
        if self._timer_wake is not None:
            self._timer_wake.set()

    async def _timer_loop(self) -> None:
        assert self._timer_wake is not None
        loop = asyncio.get_running_loop()
        while True:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, message = heapq.heappop(self._timers)
                self._deliver(message)
            self._timer_wake.clear()
            # Woken by a newly armed timer or by the next one due. Not asyncio.wait_for: on 3.11
            # it swallows a cancel that lands as the wake-up is set (python/cpython#86296), and
            # stop() would then wait for this loop forever.
            next_due = (loop.call_later(self._timers[0][0] - now, self._timer_wake.set)
                        if self._timers else None)
            try:
                await self._timer_wake.wait()
            finally:
                if next_due is not None:
                    next_due.cancel()

    # --- entities ----------------------------------------------------------------------------

    def _stage_entity_op(self, op: EntityOp, batch: Batch, effects: list[Effect]) -> None:
        row_id = self.store.new_id("entity_inbox")
        batch.entity_inbox.append((row_id, op.entity_id, op.body()))
        effects.append(lambda: self._queue_entity_op(row_id, op))

    def _queue_entity_op(self, row_id: int, op: EntityOp) -> None:
        self._entity_queues.setdefault(op.entity_id, []).append((row_id, op))
        self._entity_ready[op.entity_id] = None
        if self._wake is not None:
            self._wake.set()

    def _run_entity(self, target: str, batch: Batch, effects: list[Effect]) -> None:
        queued = self._entity_queues.pop(target, [])
        if not queued:
            return
        exists, state, created = self.entity_state(target)
        name, _ = split_entity_id(target)
        function = self.registry.entity(name)
        started = time.perf_counter()
        ops = [op for _, op in queued]
        result = run_batch(function.handle if function else None, target, exists, state, ops)
        elapsed_ms = (time.perf_counter() - started) * 1000
        now = time.time()
        for (row_id, op), (is_error, text) in zip(queued, result.results):
            batch.entity_inbox_deletes.append(row_id)
            if op.signal or not op.caller_instance:
                continue
            answer = h.event(EventType.EVENT_RAISED, h.utc_now(), Name=op.request_id,
                             Input=response_input(is_error, text))
            self._stage_message(Message(op.caller_instance, answer, op.caller_execution),
                                batch, effects)
        created = created or now
        if result.exists:
            batch.entities.append((target, result.state, created, now))
        elif exists:
            batch.entity_deletes.append(target)
        new_state = (result.exists, result.state, created if result.exists else 0.0)
        effects.insert(0, lambda: self._entity_cache.__setitem__(target, new_state))
        failures = sum(1 for is_error, _ in result.results if is_error)
        self._log.info("Executed 'Functions.%s' (%s, Id=%s, Operations=%d, Duration=%.1fms)",
                       name, "Failed" if failures else "Succeeded", target, len(ops),
                       elapsed_ms)

    # --- tasks -------------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("Engine worker failed", exc_info=task.exception())
