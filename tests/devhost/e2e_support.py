"""Helpers shared by the dev host end-to-end and compatibility tests (no tests here).

They talk to a real host the way a client would: start through an HTTP starter or the Durable HTTP
API, then follow the check-status URLs the host returned.
"""

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest

from devhost.engine import TERMINAL
from devhost.testing import HostHandle, running_host

APPS = Path(__file__).resolve().parents[1] / "apps"
FEATURES_APP = APPS / "features"
DURABLE_API = "/runtime/webhooks/durabletask"
POLL_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.05

Status = dict[str, Any]
T = TypeVar("T")


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
    return poll_status(http, status_url, lambda s: s["runtimeStatus"] in TERMINAL, timeout)


def wait_for(condition: Callable[[], T], what: str, timeout: float = POLL_TIMEOUT_SECONDS) -> T:
    """Poll `condition` until it returns something truthy and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(POLL_INTERVAL_SECONDS)


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


@contextmanager
def client_for(host: HostHandle) -> Iterator[httpx.Client]:
    """An HTTP client on the host's base URL (it keeps working across `host.restart()`)."""
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        yield client


def start_via_durable_api(
    http: httpx.Client, host: HostHandle, name: str, instance_id: str, body: Any = None
) -> dict[str, str]:
    """Start orchestrator `name` as `instance_id` through the Durable HTTP API (system key);
    returns the check-status payload the host answered with."""
    response = http.post(durable_api(f"orchestrators/{name}/{instance_id}", host.system_key), json=body)
    assert response.status_code == 202, shown(response)
    management = response.json()
    assert management["id"] == instance_id
    return management


def features_host_fixtures(
    scratch_name: str, faults: Mapping[str, str] | None = None, *, enable_auth: bool = False
) -> tuple[Any, Any, Any]:
    """The module-scoped fixtures `scratch`, `host` and `http` for one feature-app host per module.

    `scratch` is the app's FEATURES_SCRATCH_DIR (a fresh `scratch_name` temp dir), `host` runs the
    feature app with `faults` (DEVHOST_FAULT_* settings) in its environment (and `--enableAuth`
    with `enable_auth`), and `http` is a client
    on it. Bind them at module level under those names:
    `scratch, host, http = features_host_fixtures("my-scratch")`.
    """

    @pytest.fixture(scope="module")
    def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp(scratch_name)

    @pytest.fixture(scope="module")
    def host(scratch: Path) -> Iterator[HostHandle]:
        env = {"FEATURES_SCRATCH_DIR": str(scratch), **(faults or {})}
        with running_host(FEATURES_APP, env=env, enable_auth=enable_auth) as handle:
            yield handle

    @pytest.fixture(scope="module")
    def http(host: HostHandle) -> Iterator[httpx.Client]:
        with client_for(host) as client:
            yield client

    return scratch, host, http
