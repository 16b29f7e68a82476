"""The official samples-v2 apps of azure-functions-durable-python (function_chaining and
blueprint, as tests/apps/samples_v2_* after their shape) run unchanged under
`python -m devhost start` and answer without keys, as under `func start` (no --enableAuth)."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost.testing import running_host

APPS = Path(__file__).resolve().parent.parent / "apps"
WEBHOOK = "/runtime/webhooks/durabletask"
pytestmark = pytest.mark.e2e
EXPECTED = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def finished(client: httpx.Client, instance_id: str) -> dict:
    deadline = time.monotonic() + 30
    while (status := client.get(f"{WEBHOOK}/instances/{instance_id}")).status_code == 202:  # no key
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status.status_code == 200, status.text
    return status.json()


@pytest.fixture(params=["samples_v2_chaining", "samples_v2_blueprint"])
def sample(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    with running_host(APPS / request.param) as host:
        with httpx.Client(base_url=host.base_url, timeout=30) as client:
            yield client


def test_sample_runs_its_chain_without_keys(sample: httpx.Client) -> None:
    start = "/api/startOrchestrator" if sample.get("/api/HttpTrigger").status_code == 200 else "/api/orchestrators/my_orchestrator"
    response = sample.post(start)
    assert response.status_code == 202, response.text
    status = finished(sample, response.json()["id"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", EXPECTED)


def test_blueprint_sample_http_trigger_at_function_level_answers_without_a_key() -> None:
    with running_host(APPS / "samples_v2_blueprint") as host:
        response = httpx.get(f"{host.base_url}/api/HttpTrigger", params={"name": "Ada"})
        assert response.status_code == 200 and response.text.startswith("Hello, Ada.")
    with running_host(APPS / "samples_v2_blueprint", enable_auth=True) as host:
        assert httpx.get(f"{host.base_url}/api/HttpTrigger").status_code == 401  # as on Azure
