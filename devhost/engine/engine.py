"""The durable engine: a SQLite task hub whose orchestrations replay through the SDK.

Everything runs on one asyncio loop. A single pump turns ready work into "ticks": each tick
takes finished activities, runs one episode for each instance that has messages (and one batch
for each entity that has operations), then commits all of it in one transaction and only then
acts on it (dispatches activities, arms timers, delivers messages). So nothing outside the
database is ever ahead of it, and a kill at any moment loses nothing committed.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx

from devhost.engine import history as h
from devhost.engine.activities import (
    completed_event,
    failed_event,
    missing_event,
    run_activity,
    run_http,
)
from devhost.engine.entities import response_input, run_batch
from devhost.engine.episode import NewChild, Outcome, run_episode
from devhost.engine.errors import (
    InstanceExists,
    InstanceNotFound,
    InstanceNotRunning,
    UnknownFunction,
)
from devhost.engine.history import EventType
from devhost.engine.model import (
    TERMINAL_STATUSES,
    EntityOp,
    Instance,
    Message,
    WorkItem,
    entity_id,
    new_runtime,
    split_entity_id,
)
from devhost.engine.options import EngineOptions, InstanceQuery
from devhost.engine.registry import Registry
from devhost.engine.status import (
    decode_token,
    encode_token,
    entity_status,
    history_events,
    instance_status,
)
from devhost.engine.store import Batch, Store

# One tick keeps the loop (and so the HTTP server) busy; bound it in count and in time.
MAX_EPISODES_PER_TICK = 64
TICK_BUDGET_SECONDS = 0.05
# An instance whose last episode cost more than this waits (up to its cost, at most the cap)
# for more of its own activities to finish before it replays again: a fan-in of n results then
# takes a few replays instead of n, each of them over the whole history.
DEFER_MIN_COST_SECONDS = 0.002
DEFER_MAX_SECONDS = 0.25
DATABASE_FILE = "taskhub.sqlite3"

Effect = Callable[[], None]


class DurableEngine:
    def __init__(self, data_dir: Path, task_hub: str, registry: Registry,
                 options: EngineOptions | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.task_hub = task_hub
        self.registry = registry
        self.options = options or EngineOptions()
        self._log = self.options.logger
        self._random = random.Random(self.options.faults.seed)
        self._store: Store | None = None
        self._reset_memory()
        self._wake: asyncio.Event | None = None
        self._timer_wake: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._http: httpx.AsyncClient | None = None
        self._running = False

    def _reset_memory(self) -> None:
        """In-memory state is only a view of the store: a (re)start rebuilds it from there."""
        self._cache: dict[str, Instance] = {}  # running instances, with their history
        self._entity_cache: dict[str, tuple[bool, str | None, float]] = {}
        self._pending: dict[str, list[Message]] = {}
        self._ready: dict[str, None] = {}  # insertion-ordered set
        self._completions: list[tuple[int, dict[str, Any]]] = []
        self._open_work: dict[int, WorkItem] = {}
        self._open_per_instance: dict[str, int] = {}
        self._episode_cost: dict[str, float] = {}  # seconds of the last SDK call
        self._deferred_until: dict[str, float] = {}
        self._entity_queues: dict[str, list[tuple[int, EntityOp]]] = {}
        self._entity_ready: dict[str, None] = {}
        self._timers: list[tuple[float, int, Message]] = []
        self._timer_order = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, resume what was in flight and start the workers."""
        self._reset_memory()
        self._store = Store(self.data_dir / DATABASE_FILE)
        self._wake = asyncio.Event()
        self._timer_wake = asyncio.Event()
        workers = max(1, self.options.activity_workers)
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="devhost-activity")
        self._semaphore = asyncio.Semaphore(workers)
        self._http = httpx.AsyncClient(timeout=100.0)
        self._running = True
        now = time.time()
        for inbox_row in self._store.inbox_rows():
            message = Message.from_row(*inbox_row)
            if message.visible_at > now:
                self._arm_timer(message)
            else:
                self._deliver(message)
        for work_row in self._store.work_rows():
            # at-least-once: activities that never reported back run again
            self._open_and_dispatch(WorkItem.from_row(*work_row))
        for row_id, _, body in self._store.entity_inbox_rows():
            self._queue_entity_op(row_id, EntityOp.from_body(body))
        self._spawn(self._pump())
        self._spawn(self._timer_loop())
        self._wake.set()

    async def stop(self) -> None:
        """Stop the workers; a tick is synchronous, so no commit is ever cut in half."""
        if not self._running:
            return
        self._running = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            await self._http.aclose()
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- client API --------------------------------------------------------------------------

    async def start_orchestration(self, name: str, input_json: str | None,
                                  instance_id: str | None = None) -> str:
        if name not in self.registry.orchestrators:
            raise UnknownFunction(f"The orchestrator function '{name}' does not exist.")
        instance_id = instance_id or uuid.uuid4().hex
        existing = self._load(instance_id, with_history=False)
        if existing is not None and existing.status not in TERMINAL_STATUSES:
            raise InstanceExists(f"An instance with ID '{instance_id}' already exists.")
        batch = Batch()
        effects: list[Effect] = []
        self._create_instance(instance_id, name, input_json, None, batch, effects,
                              recreate=existing is not None)
        self._commit(batch, effects)
        return instance_id

    async def get_status(self, instance_id: str, *, show_input: bool = True,
                         show_history: bool = False,
                         show_history_output: bool = False) -> dict[str, Any] | None:
        if instance_id.startswith("@"):
            row = self._entity_row(instance_id)
            return None if row is None else entity_status(instance_id, row[0], row[1])
        inst = self._load(instance_id, with_history=False)
        if inst is None:
            return None
        status = instance_status(inst, show_input=show_input)
        if show_history:
            texts = self._require_store().history_texts(instance_id)
            status["historyEvents"] = history_events(texts, show_output=show_history_output)
        return status

    async def query_instances(self, query: InstanceQuery) -> tuple[list[dict[str, Any]],
                                                                    str | None]:
        rows = self._query_rows(query)
        after = decode_token(query.continuation_token) if query.continuation_token else None
        if after is not None:
            rows = [r for r in rows if (r[0], r[1]) > after]
        page = rows if query.top is None or query.top <= 0 else rows[:query.top]
        token = None
        if query.top and len(rows) > len(page) and page:
            token = encode_token(page[-1][0], page[-1][1])
        return [make() for _, _, make in page], token

    async def raise_event(self, instance_id: str, event_name: str,
                          data_json: str | None) -> None:
        self._require_live(instance_id)
        event = h.event(EventType.EVENT_RAISED, h.utc_now(), Name=event_name, Input=data_json)
        self._send(Message(instance_id, event, external=True))

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        self._require_live(instance_id)
        self._send(Message(instance_id, h.event(EventType.EXECUTION_TERMINATED, h.utc_now(),
                                                Input=reason)))

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        self._require_live(instance_id)
        self._send(Message(instance_id, h.event(EventType.EXECUTION_SUSPENDED, h.utc_now(),
                                                Reason=reason)))

    async def resume(self, instance_id: str, reason: str | None) -> None:
        self._require_live(instance_id)
        self._send(Message(instance_id, h.event(EventType.EXECUTION_RESUMED, h.utc_now(),
                                                Reason=reason)))

    async def purge(self, instance_id: str) -> int:
        if self._load(instance_id, with_history=False) is None:
            return 0
        self._purge([instance_id])
        return 1

    async def purge_many(self, query: InstanceQuery) -> int:
        ids = [iid for _, iid, _ in self._query_rows(query, entities=False)]
        if ids:
            self._purge(ids)
        return len(ids)

    async def signal_entity(self, name: str, key: str, operation: str,
                            input_json: str | None) -> None:
        if self.registry.entity(name) is None:
            raise UnknownFunction(f"The entity function '{name}' does not exist.")
        op = EntityOp(entity_id(name, key), operation, input_json, signal=True)
        batch = Batch()
        effects: list[Effect] = []
        self._stage_entity_op(op, batch, effects)
        self._commit(batch, effects)

    async def read_entity(self, name: str, key: str) -> tuple[bool, str | None]:
        exists, state, _ = self._entity_state(entity_id(name, key))
        return exists, state

    # --- the pump ----------------------------------------------------------------------------

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._completions or self._ready or self._entity_ready:
                self._tick()
                await asyncio.sleep(0)  # let HTTP handlers and activities run between ticks

    def _tick(self) -> None:
        batch = Batch()
        effects: list[Effect] = []
        completions, self._completions = self._completions, []
        for work_id, event in completions:
            item = self._open_work.pop(work_id, None)
            if item is None:
                continue  # a duplicate delivery of an activity that already answered
            self._release_open(item.instance_id)
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
        if cost < DEFER_MIN_COST_SECONDS or not self._open_per_instance.get(instance_id):
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
        self._require_store().commit(batch)
        for effect in effects:
            effect()

    def _run_instance(self, instance_id: str, messages: list[Message], batch: Batch,
                      effects: list[Effect]) -> None:
        inst = self._load(instance_id, with_history=True)
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

    def _log_episode(self, outcome: Outcome, elapsed_ms: float) -> None:
        inst = outcome.instance
        final = inst.status in TERMINAL_STATUSES
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
            item = WorkItem(self._require_store().new_id("work"), inst.instance_id,
                            inst.execution_id, work.task_id, work.name, work.input, work.kind)
            batch.work.append((item.work_id, item.instance_id, item.execution_id, item.body()))
            effects.append(functools.partial(self._open_and_dispatch, item))
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
            if inst.status in TERMINAL_STATUSES:
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
        existing = self._load(child.instance_id, with_history=False)
        reason = None
        if child.name not in self.registry.orchestrators:
            reason = f"The orchestrator function '{child.name}' does not exist."
        elif existing is not None and existing.status not in TERMINAL_STATUSES:
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
        inst = Instance(instance_id, name, uuid.uuid4().hex, "Pending", input_json,
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
        message.row_id = self._require_store().new_id("inbox")
        batch.inbox.append((message.row_id, message.instance_id, message.execution_id,
                            message.visible_at, message.body()))

    def _drop(self, message: Message, batch: Batch) -> None:
        if message.row_id is not None:
            batch.inbox_deletes.append(message.row_id)
        if message.work_id is not None:
            batch.work_deletes.append(message.work_id)

    def _send(self, message: Message) -> None:
        batch = Batch()
        effects: list[Effect] = []
        self._stage_message(message, batch, effects)
        self._commit(batch, effects)

    def _deliver(self, message: Message) -> None:
        self._pending.setdefault(message.instance_id, []).append(message)
        self._ready[message.instance_id] = None
        if self._wake is not None:
            self._wake.set()

    # --- entities ----------------------------------------------------------------------------

    def _stage_entity_op(self, op: EntityOp, batch: Batch, effects: list[Effect]) -> None:
        row_id = self._require_store().new_id("entity_inbox")
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
        exists, state, created = self._entity_state(target)
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

    def _entity_state(self, target: str) -> tuple[bool, str | None, float]:
        cached = self._entity_cache.get(target)
        if cached is not None:
            return cached
        row = self._require_store().entity_row(target)
        value = (False, None, 0.0) if row is None else (True, row[1], row[2])
        self._entity_cache[target] = value
        return value

    def _entity_row(self, target: str) -> tuple[float, float] | None:
        row = self._require_store().entity_row(target)
        return None if row is None else (row[2], row[3])

    # --- activities --------------------------------------------------------------------------

    def _release_open(self, instance_id: str) -> None:
        count = self._open_per_instance.get(instance_id, 1) - 1
        if count > 0:
            self._open_per_instance[instance_id] = count
        else:
            self._open_per_instance.pop(instance_id, None)

    def _open_and_dispatch(self, item: WorkItem) -> None:
        self._open_work[item.work_id] = item
        count = self._open_per_instance.get(item.instance_id, 0)
        self._open_per_instance[item.instance_id] = count + 1
        self._dispatch(item)

    def _dispatch(self, item: WorkItem) -> None:
        copies = 2 if self.options.faults.duplicate_activities else 1
        for _ in range(copies):
            self._spawn(self._execute(item))

    async def _execute(self, item: WorkItem) -> None:
        assert self._semaphore is not None and self._executor is not None
        async with self._semaphore:
            started = time.perf_counter()
            if item.kind == "http":
                assert self._http is not None
                try:
                    event = completed_event(item, await run_http(item.input, self._http))
                except Exception as exc:  # noqa: BLE001 - network errors fail the task
                    event = failed_event(item, exc)
            else:
                function = self.registry.activities.get(item.name)
                if function is None:
                    event = missing_event(item)
                else:
                    try:
                        event = completed_event(item, await run_activity(function, item,
                                                                         self._executor))
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - user code may raise anything
                        event = failed_event(item, exc)
            elapsed_ms = (time.perf_counter() - started) * 1000
        ok = event["EventType"] == EventType.TASK_COMPLETED
        self._log.info("Executed 'Functions.%s' (%s, Id=%s, Duration=%.1fms)", item.name,
                       "Succeeded" if ok else "Failed", item.instance_id, elapsed_ms)
        if self._running:
            self._completions.append((item.work_id, event))
            assert self._wake is not None
            self._wake.set()

    # --- timers ------------------------------------------------------------------------------

    def _arm_timer(self, message: Message) -> None:
        heapq.heappush(self._timers, (message.visible_at, next(self._timer_order), message))
        if self._timer_wake is not None:
            self._timer_wake.set()

    async def _timer_loop(self) -> None:
        assert self._timer_wake is not None
        while True:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, message = heapq.heappop(self._timers)
                self._deliver(message)
            delay = self._timers[0][0] - now if self._timers else None
            self._timer_wake.clear()
            try:
                await asyncio.wait_for(self._timer_wake.wait(), delay)
            except asyncio.TimeoutError:
                pass

    # --- helpers -----------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("Engine worker failed", exc_info=task.exception())

    def _should_crash(self) -> bool:
        rate = self.options.faults.crash_replay_rate
        return rate > 0 and self._random.random() < rate

    def _require_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("The durable engine is not started.")
        return self._store

    def _load(self, instance_id: str, *, with_history: bool) -> Instance | None:
        cached = self._cache.get(instance_id)
        if cached is not None:
            return cached
        store = self._require_store()
        row = store.instance_row(instance_id)
        if row is None:
            return None
        inst = Instance.from_row(row)
        if with_history:
            inst.history = store.history_texts(instance_id)
            if inst.status not in TERMINAL_STATUSES:
                self._cache[instance_id] = inst
        return inst

    def _require_live(self, instance_id: str) -> Instance:
        inst = self._load(instance_id, with_history=False)
        if inst is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' was found.")
        if inst.status in TERMINAL_STATUSES:
            raise InstanceNotRunning(
                f"The instance '{instance_id}' is {inst.status} and cannot take this operation.")
        return inst

    def _purge(self, instance_ids: list[str]) -> None:
        self._require_store().purge_instances(instance_ids)
        for instance_id in instance_ids:
            self._cache.pop(instance_id, None)
            self._pending.pop(instance_id, None)
            self._ready.pop(instance_id, None)

    def _query_rows(self, query: InstanceQuery, *, entities: bool = True
                    ) -> list[tuple[float, str, Callable[[], dict[str, Any]]]]:
        """Matching instances (and entities) as (created, id, status builder), in page order."""
        clauses: list[str] = []
        params: list[Any] = []
        statuses = [s for s in (query.runtime_status or []) if s]
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if query.created_from is not None:
            clauses.append("created >= ?")
            params.append(_epoch(query.created_from))
        if query.created_to is not None:
            clauses.append("created <= ?")
            params.append(_epoch(query.created_to))
        prefix = query.instance_id_prefix or ""
        if prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            params.extend([len(prefix), prefix])
        store = self._require_store()
        rows = store.instance_rows(clauses, params)
        show_input = query.show_input
        result: list[tuple[float, str, Callable[[], dict[str, Any]]]] = [
            (row[7], row[0], functools.partial(_status_of_row, row, show_input)) for row in rows
        ]
        if entities and (not statuses or "Running" in statuses):
            for target, _, created, updated in store.entity_rows():
                if prefix and not target.startswith(prefix):
                    continue
                if query.created_from is not None and created < _epoch(query.created_from):
                    continue
                if query.created_to is not None and created > _epoch(query.created_to):
                    continue
                result.append((created, target,
                               functools.partial(entity_status, target, created, updated)))
            result.sort(key=lambda item: (item[0], item[1]))
        return result


def _status_of_row(row: tuple[Any, ...], show_input: bool) -> dict[str, Any]:
    return instance_status(Instance.from_row(row), show_input=show_input)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
