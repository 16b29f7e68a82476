"""Helpers shared by the dev host end-to-end tests (no tests here).

They talk to a real host the way a client would: start through an HTTP starter or the Durable HTTP
API, then follow the check-status URLs the host returned.
"""

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

FEATURES_APP = Path(__file__).resolve().parents[1] / "apps" / "features"
DURABLE_API = "/runtime/webhooks/durabletask"
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
POLL_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.05

Status = dict[str, Any]


def shown(response: httpx.Response) -> str:
    """A response body for an assertion message, with any key in a URL masked."""
    return f"{response.status_code}: " + re.sub(r"code=[^&\"\s]+", "code=***", response.text)


def fresh_id(feature: str) -> str:
    return f"{feature}-{uuid.uuid4().hex}"


def read_status(http: httpx.Client, status_url: str) -> Status | None:
    """The status object behind a statusQueryGetUri, or None when the instance is unknown (404)."""
    response = http.get(status_url)
    if response.status_code == 404:
        return None
    # Azure answers 202 while running and 200/400/500 once done; every one carries the status.
    status = response.json()
    assert "runtimeStatus" in status, shown(response)
    return status


def poll_status(
    http: httpx.Client,
    status_url: str,
    until: Callable[[Status], bool],
    timeout: float = POLL_TIMEOUT_SECONDS,
) -> Status:
    deadline = time.monotonic() + timeout
    last: Status | None = None
    while True:
        last = read_status(http, status_url)
        if last is not None and until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s; last status: {last}")
        time.sleep(POLL_INTERVAL_SECONDS)


def poll_finished(http: httpx.Client, status_url: str, timeout: float = POLL_TIMEOUT_SECONDS) -> Status:
    return poll_status(http, status_url, lambda s: s["runtimeStatus"] in TERMINAL_STATUSES, timeout)


def poll_until(condition: Callable[[], bool], timeout: float = POLL_TIMEOUT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL_SECONDS)
    return True


def durable_api(path: str, system_key: str, **params: str) -> str:
    """A Durable HTTP API URL with the system key as a client would send it (`code=`)."""
    query = "&".join(
        f"{name}={quote(value, safe=',')}" for name, value in {**params, "code": system_key}.items()
    )
    return f"{DURABLE_API}/{path}?{query}"


def event_url(management: dict[str, str], event_name: str) -> str:
    return management["sendEventPostUri"].replace("{eventName}", quote(event_name, safe=""))


def reason_url(management: dict[str, str], key: str, reason: str) -> str:
    return management[key].replace("{text}", quote(reason, safe=""))
