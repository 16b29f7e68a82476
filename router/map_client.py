"""The HTTP functions' way to the version map, through their durable client binding.

Reads go straight to the entity's state (`read_version_map`), or through the worker's routing
cache (`cached_map`); changes go through the `map_command` orchestration, which applies one
operation and hands back its typed result (`run_map_command`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import azure.durable_functions as df

from router import runtime
from router.entity import VERSION_MAP_ID
from router.errors import RouterError
from router.lanes import VersionMap
from router.map_operations import raise_for_result
from router.runtime import parse_entity_state
from router.runtime_status import RuntimeStatus, UNSUCCESSFUL


async def read_entity_state(client: df.DurableOrchestrationClient) -> Any:
    """The version-map entity's raw state, None before its first operation."""
    response = await client.read_entity_state(VERSION_MAP_ID)
    return response.entity_state if response.entity_exists else None


async def read_version_map(client: df.DurableOrchestrationClient) -> VersionMap:
    """The entity's state now (admin reads and pre-checks; the forwarder uses the cache)."""
    return parse_entity_state(await read_entity_state(client))


async def cached_map(client: df.DurableOrchestrationClient, *, fresh: bool = False) -> VersionMap:
    """The map as this worker last read it, at most ROUTER_MAP_CACHE_SECONDS old."""
    cache = runtime.current().map_cache
    if fresh:
        cache.invalidate()
    return await cache.get(lambda: read_entity_state(client))


async def run_map_command(
    client: df.DurableOrchestrationClient, operation: str, args: dict[str, Any], *, wake_lane: str | None = None,
    drive_ramp: dict[str, Any] | None = None, timeout_seconds: float = 30.0,
) -> Any:
    """Apply an admin operation through the entity and wait for its typed result. With
    `drive_ramp` (the Timing it runs with), a ramp the operation started is also set going."""
    command: dict[str, Any] = {"operation": operation, "args": args, "wake_lane": wake_lane}
    if drive_ramp is not None:
        command["drive_ramp"] = drive_ramp
    instance_id = await client.start_new("map_command", None, command)
    deadline = time.monotonic() + timeout_seconds
    delay = 0.02
    while time.monotonic() < deadline:
        status = await client.get_status(instance_id)
        runtime_status = RuntimeStatus.parse(status.runtime_status) if status else None
        if runtime_status is RuntimeStatus.COMPLETED:
            return raise_for_result(status.output)
        if runtime_status in UNSUCCESSFUL:
            raise RouterError(f"The version-map command {operation} did not complete ({runtime_status}).")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise RouterError(f"The version-map command {operation} did not complete in {timeout_seconds:.0f} s.")
