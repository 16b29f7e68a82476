"""The feature app under DEVHOST_FAULT_DUPLICATE_ACTIVITIES: every activity is delivered twice,
as Azure may do; the second completion must be ignored and outputs stay exact."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost.testing import HostHandle, running_host
from tests.devhost.e2e_support import (
    FEATURES_APP,
    durable_api,
    fresh_id,
    poll_finished,
    poll_until,
    shown,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("duplicates-scratch")


@pytest.fixture(scope="module")
def host(scratch: Path) -> Iterator[HostHandle]:
    faults = {"DEVHOST_FAULT_DUPLICATE_ACTIVITIES": "true"}
    with running_host(FEATURES_APP, env={"FEATURES_SCRATCH_DIR": str(scratch), **faults}) as handle:
        yield handle


@pytest.fixture(scope="module")
def http(host: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        yield client


def start(
    http: httpx.Client, host: HostHandle, name: str, instance_id: str, body: object = None
) -> dict[str, str]:
    response = http.post(durable_api(f"orchestrators/{name}/{instance_id}", host.system_key), json=body)
    assert response.status_code == 202, shown(response)
    return response.json()


def test_chain_output_is_exact(http: httpx.Client, host: HostHandle) -> None:
    status = poll_finished(http, start(http, host, "hello_chain", fresh_id("chain"))["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == (
        "Completed",
        ["Hello Tokyo!", "Hello Seattle!", "Hello London!"],
    )


def test_fan_out_sum_is_exact(http: httpx.Client, host: HostHandle) -> None:
    status = poll_finished(
        http, start(http, host, "fan_out_fan_in", fresh_id("fan"), 150)["statusQueryGetUri"]
    )
    assert status["output"] == {"count": 150, "sum": sum(2 * i for i in range(150))}


def test_each_activity_really_ran_twice(http: httpx.Client, host: HostHandle, scratch: Path) -> None:
    instance_id = fresh_id("slow")
    status = poll_finished(http, start(http, host, "slow_task", instance_id, 0)["statusQueryGetUri"])
    assert status["output"]["echo"] == instance_id
    # Proof the fault was live: the activity body ran for both deliveries (the second may finish
    # after the orchestration did, so wait for its mark).
    marks = scratch / "features-app" / f"{instance_id}.slow-started"
    assert poll_until(lambda: len(marks.read_text().splitlines()) >= 2)
    assert len(marks.read_text().splitlines()) == 2
