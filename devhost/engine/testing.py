"""Helpers to drive a DurableEngine in-process (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable

from devhost.engine.engine import DurableEngine
from devhost.engine.options import EngineOptions
from devhost.engine.registry import Registry, registry_from_functions
from devhost.engine.runtime_status import TERMINAL


def registry_from_app(app: Any) -> Registry:
    """Registry of a DFApp / FunctionApp, built from a fresh `get_functions()` call."""
    app.functions_bindings = None  # get_functions() refuses a second call otherwise
    return registry_from_functions(app.get_functions())


@contextlib.asynccontextmanager
async def running_engine(data_dir: Path, registry: Registry,
                         options: EngineOptions | None = None,
                         task_hub: str = "TestHubName") -> AsyncIterator[DurableEngine]:
    engine = DurableEngine(data_dir, task_hub, registry, options or EngineOptions())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll `condition` (sync or async) until it gives something truthy and return that; raise
    TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_for_status(engine: DurableEngine, instance_id: str,
                          statuses: Iterable[str] = TERMINAL,
                          timeout: float = 10.0, **kwargs: Any) -> dict[str, Any]:
    """Poll until the instance reaches one of `statuses` (by default a final one); raise
    TimeoutError with the last one."""
    wanted = frozenset(statuses)
    deadline = time.monotonic() + timeout
    status: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        status = await engine.get_status(instance_id, **kwargs)
        if status is not None and status["runtimeStatus"] in wanted:
            return status
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{instance_id} did not reach {sorted(wanted)}: last status {status}")
