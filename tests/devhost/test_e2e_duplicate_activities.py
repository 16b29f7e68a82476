"""The feature app under DEVHOST_FAULT_DUPLICATE_ACTIVITIES: every activity is delivered twice,
as Azure may do; the second completion must be ignored and outputs stay exact."""

from pathlib import Path

import httpx
import pytest

from devhost.testing import HostHandle
from tests.devhost.e2e_support import (
    features_host_fixtures,
    fresh_id,
    poll_finished,
    start_via_durable_api,
    wait_for,
)

pytestmark = pytest.mark.e2e

scratch, host, http = features_host_fixtures(
    "duplicates-scratch", faults={"DEVHOST_FAULT_DUPLICATE_ACTIVITIES": "true"}
)


def test_chain_output_is_exact(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_durable_api(http, host, "hello_chain", fresh_id("chain"))
    status = poll_finished(http, management["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == (
        "Completed",
        ["Hello Tokyo!", "Hello Seattle!", "Hello London!"],
    )


def test_fan_out_sum_is_exact(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_durable_api(http, host, "fan_out_fan_in", fresh_id("fan"), 150)
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["output"] == {"count": 150, "sum": sum(2 * i for i in range(150))}


def test_each_activity_really_ran_twice(http: httpx.Client, host: HostHandle, scratch: Path) -> None:
    instance_id = fresh_id("slow")
    management = start_via_durable_api(http, host, "slow_task", instance_id, 0)
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["output"]["echo"] == instance_id
    # Proof the fault was live: the activity body ran for both deliveries (the second may finish
    # after the orchestration did, so wait for its mark).
    marks = scratch / "features-app" / f"{instance_id}.slow-started"
    wait_for(lambda: len(marks.read_text().splitlines()) >= 2, "the second delivery's mark")
    assert len(marks.read_text().splitlines()) == 2
