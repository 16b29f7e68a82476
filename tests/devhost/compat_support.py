"""Helpers for the compatibility tests (no tests here): apps under tests/apps/compat_* were
written after the official Durable Functions Python samples and docs, not for the dev host."""

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

APPS = Path(__file__).resolve().parents[1] / "apps"
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
DEADLINE_SECONDS = 30.0


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def shown(response: httpx.Response) -> str:
    """Status and body for an assertion message; keys in URLs masked."""
    import re

    return f"{response.status_code}: " + re.sub(r"code=[^&\"\s]+", "code=***", response.text)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(0.05)


def status_of(http: httpx.Client, status_url: str) -> dict[str, Any] | None:
    response = http.get(status_url)
    if response.status_code == 404:
        return None
    body = response.json()
    assert "runtimeStatus" in body, shown(response)
    return body


def wait_status(
    http: httpx.Client, status_url: str, until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = DEADLINE_SECONDS,
) -> dict[str, Any]:
    done = until or (lambda s: s["runtimeStatus"] in TERMINAL)

    def check() -> dict[str, Any] | None:
        status = status_of(http, status_url)
        return status if status is not None and done(status) else None

    return wait_for(check, f"status at {status_url.split('?')[0]}", timeout)
