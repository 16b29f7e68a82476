"""Helpers shared by the local-backend e2e tests (no tests here): an
event loop for a module's backend calls, and a client's view of the sample app's orders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from provisioning.base import DURABLE_API_PATH, AppRef

DURABLE_API = DURABLE_API_PATH


def module_event_loop() -> Any:
    """A module-scoped `loop` fixture: one event loop for all of a module's backend calls.
    Bind it at module level: `loop = module_event_loop()`."""

    @pytest.fixture(scope="module")
    def loop() -> Iterator[asyncio.AbstractEventLoop]:
        loop = asyncio.new_event_loop()
        yield loop
        loop.close()

    return loop


def start_order(app: AppRef, key: str, order: dict[str, Any]) -> str:
    """Start the sample app's `process_order` with `order` through the Durable HTTP API; its id."""
    response = httpx.post(
        f"{app.base_url}{DURABLE_API}/orchestrators/process_order",
        json=order,
        headers={"x-functions-key": key},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_for_status(
    app: AppRef,
    key: str,
    instance_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll the instance's status until `done(status)`; fail with the last status seen."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{app.base_url}{DURABLE_API}/instances/{instance_id}",
            headers={"x-functions-key": key},
            timeout=10,
        )
        if response.status_code in (200, 202):
            status = response.json()
            if done(status):
                return status
        time.sleep(0.2)
    raise AssertionError(f"instance {instance_id} never reached the expected status; last: {status}")
