"""Activity workers: run the activities a commit scheduled and report each one's history event.

Sync activities run in a thread pool, async ones on the loop, the built-in HTTP activity through
one shared httpx client; at most `EngineOptions.activity_workers` run at once. A worker never
touches the store: it hands its result to `report`, and the scheduler commits it in its next tick.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Coroutine

import httpx

from devhost.engine.activities import (
    completed_event,
    failed_event,
    missing_event,
    run_activity,
    run_http,
)
from devhost.engine.history import EventType
from devhost.engine.model import WorkItem
from devhost.engine.options import EngineOptions
from devhost.engine.registry import Registry

Spawn = Callable[[Coroutine[Any, Any, None]], None]
Report = Callable[[int, dict[str, Any]], None]


class ActivityWorkers:
    """The open work items (scheduled, not yet answered) and the workers running them."""

    def __init__(self, registry: Registry, options: EngineOptions, spawn: Spawn,
                 report: Report) -> None:
        self._registry = registry
        self._options = options
        self._log = options.logger
        self._spawn = spawn
        self._report = report
        self._open: dict[int, WorkItem] = {}
        self._open_per_instance: dict[str, int] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._http: httpx.AsyncClient | None = None
        self._running = False

    def start(self) -> None:
        self._open = {}
        self._open_per_instance = {}
        workers = max(1, self._options.activity_workers)
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="devhost-activity")
        self._semaphore = asyncio.Semaphore(workers)
        self._http = httpx.AsyncClient(timeout=100.0)
        self._running = True

    def stop_reporting(self) -> None:
        """From now on a finishing worker reports nothing (the engine is stopping)."""
        self._running = False

    async def close(self) -> None:
        """Release the thread pool and the HTTP client (the worker tasks are cancelled already)."""
        self._running = False
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            await self._http.aclose()

    def open(self, item: WorkItem) -> None:
        """Count `item` as open for its instance and run it."""
        self._open[item.work_id] = item
        count = self._open_per_instance.get(item.instance_id, 0)
        self._open_per_instance[item.instance_id] = count + 1
        copies = 2 if self._options.faults.duplicate_activities else 1
        for _ in range(copies):
            self._spawn(self._execute(item))

    def answered(self, work_id: int) -> WorkItem | None:
        """The open item `work_id` now answered, or None if it was answered already (a duplicate)."""
        item = self._open.pop(work_id, None)
        if item is None:
            return None
        count = self._open_per_instance.get(item.instance_id, 1) - 1
        if count > 0:
            self._open_per_instance[item.instance_id] = count
        else:
            self._open_per_instance.pop(item.instance_id, None)
        return item

    def open_count(self, instance_id: str) -> int:
        """How many of the instance's activities are still running."""
        return self._open_per_instance.get(instance_id, 0)

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
                function = self._registry.activities.get(item.name)
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
            self._report(item.work_id, event)
