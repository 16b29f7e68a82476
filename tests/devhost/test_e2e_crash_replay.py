"""The feature app under DEVHOST_FAULT_CRASH_REPLAY_RATE: episodes thrown away after the SDK ran
(before the commit) are replayed, and every outcome is still exactly right."""

from pathlib import Path

import httpx
import pytest

from devhost.testing import HostHandle
from tests.devhost.e2e_support import (
    durable_api,
    event_url,
    features_host_fixtures,
    fresh_id,
    poll_finished,
    poll_status,
    start_via_durable_api,
    wait_for,
)

pytestmark = pytest.mark.e2e

scratch, host, http = features_host_fixtures(
    "crash-replay-scratch", faults={"DEVHOST_FAULT_CRASH_REPLAY_RATE": "0.3", "DEVHOST_FAULT_SEED": "7"}
)


def test_chain_and_sub_orchestration(http: httpx.Client, host: HostHandle) -> None:
    instance_id = fresh_id("parent")
    management = start_via_durable_api(http, host, "parent_of_chain", instance_id, ["Ann", "Bob", "Cy"])
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {
        "childId": f"{instance_id}-child",
        "greetings": ["Hello Ann!", "Hello Bob!", "Hello Cy!"],
    }


def test_fan_out(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_durable_api(http, host, "fan_out_fan_in", fresh_id("fan"), 100)
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["output"] == {"count": 100, "sum": sum(2 * i for i in range(100))}


def test_the_fault_is_live(http: httpx.Client, host: HostHandle) -> None:
    # Each 3-activity chain runs at least 4 episodes; at a rate of 0.3, 20 chains abort some.
    pages = [
        start_via_durable_api(http, host, "hello_chain", fresh_id("live"))["statusQueryGetUri"]
        for _ in range(20)
    ]
    assert all(poll_finished(http, page)["runtimeStatus"] == "Completed" for page in pages)
    assert "(fault injection)" in host.output()


def test_retry_counts_real_attempts_only(http: httpx.Client, host: HostHandle, scratch: Path) -> None:
    instance_id = fresh_id("retry")
    management = start_via_durable_api(
        http, host, "retried_activity", instance_id, {"failures": 2, "maxAttempts": 3}
    )
    status = poll_finished(http, management["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", {"attempts": 3})
    # A replayed episode must not schedule its activities again.
    assert len((scratch / "features-app" / f"{instance_id}.flaky").read_text().splitlines()) == 3


def test_event_and_continue_as_new(http: httpx.Client, host: HostHandle) -> None:
    waiting = start_via_durable_api(http, host, "approval", fresh_id("event"))
    looping = start_via_durable_api(
        http, host, "countdown", fresh_id("loop"), {"remaining": 6, "total": 0, "generations": 0}
    )
    poll_status(
        http, waiting["statusQueryGetUri"], lambda s: (s.get("customStatus") or {}).get("stage") == "waiting"
    )
    assert http.post(event_url(waiting, "Approval"), json="ok").status_code == 202
    assert poll_finished(http, waiting["statusQueryGetUri"])["output"] == {"decision": "ok"}
    assert poll_finished(http, looping["statusQueryGetUri"])["output"] == {"total": 42, "generations": 6}


def test_counter_stays_exact(http: httpx.Client, host: HostHandle) -> None:
    key = fresh_id("counter")
    signal = durable_api(f"entities/counter/{key}", host.system_key, op="add")
    for _ in range(50):
        # application/json: the Durable HTTP API passes any other body to the entity as a string.
        assert http.post(signal, json=2).status_code == 202
    read = durable_api(f"entities/counter/{key}", host.system_key)

    def value() -> int:
        response = http.get(read)
        return int(response.json()) if response.status_code == 200 else 0

    wait_for(lambda: value() >= 100, "the counter to reach 100")
    assert value() == 100
