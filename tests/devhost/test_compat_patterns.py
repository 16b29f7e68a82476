"""The official samples' orchestration patterns and the durable client's management calls
(tests/apps/compat_patterns: a DFApp whose orchestrations come from a df.Blueprint), end to end
through a real dev host process and plain HTTP."""

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from devhost.testing import HostHandle, running_host
from tests.devhost.e2e_support import (
    APPS,
    fresh_id,
    poll_finished,
    poll_status,
    read_status,
    shown,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host() -> Iterator[HostHandle]:
    with running_host(APPS / "compat_patterns") as handle:
        yield handle


@pytest.fixture(scope="module")
def http(host: HostHandle) -> Iterator[httpx.Client]:
    """For the management URLs the host hands out (they carry their own key in `code`)."""
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def app(host: HostHandle) -> Iterator[httpx.Client]:
    """For the app's own HTTP functions (authLevel function). Never use it on a management URL:
    as in Azure, an x-functions-key header wins over the URL's `code`, and a function key does
    not open the Durable HTTP API."""
    with httpx.Client(
        base_url=host.base_url, timeout=30, headers={"x-functions-key": host.function_key}
    ) as client:
        yield client


def start(app: httpx.Client, name: str, body: object = None, instance_id: str | None = None) -> dict:
    path = f"/api/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    response = app.post(path, json=body) if body is not None else app.post(path)
    assert response.status_code == 202, shown(response)
    return response.json()


def finished(http: httpx.Client, management: dict) -> dict:
    return poll_finished(http, management["statusQueryGetUri"])


def test_monitor_polls_on_a_timer_and_continues_as_new(app: httpx.Client, http: httpx.Client) -> None:
    management = start(app, "job_monitor", {"job": "build-7", "checks": 0, "episodes": 0, "ready_after": 3})
    # The first episode reports its progress in the custom status while it waits on its timer.
    seen = poll_status(http, management["statusQueryGetUri"], lambda s: s.get("customStatus") is not None)
    assert seen["runtimeStatus"] in ("Running", "ContinuedAsNew", "Completed"), seen
    status = finished(http, management)
    assert status["runtimeStatus"] == "Completed", status
    # Two polls (with a 1 s timer after each) in episode 1, the third succeeds in episode 2.
    assert status["output"] == {"job": "build-7", "checks": 3, "episodes": 2}
    # continue_as_new keeps the instance id and replaces the input with the latest state.
    assert status["input"]["episodes"] == 1 and status["input"]["checks"] == 2


def test_human_interaction_right_code_completes_at_once(app: httpx.Client, http: httpx.Client) -> None:
    management = start(app, "sms_verification", {"phone": "+14255550123", "timeout_seconds": 60})
    poll_status(http, management["statusQueryGetUri"], lambda s: s.get("customStatus") == "waiting for the code")
    send = management["sendEventPostUri"].replace("{eventName}", "SmsChallengeResponse")
    assert http.post(send, json=1).status_code == 202  # wrong code: one more try
    assert http.post(send, json=123).status_code == 202
    began = time.monotonic()
    status = finished(http, management)
    # The 60 s deadline was cancelled: the orchestration does not wait for it.
    assert time.monotonic() - began < 20
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"authorized": True, "attempts": 2}


def test_human_interaction_times_out(app: httpx.Client, http: httpx.Client) -> None:
    management = start(app, "sms_verification", {"phone": "+14255550123", "timeout_seconds": 1})
    status = finished(http, management)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"authorized": False, "attempts": 0}


def test_sub_orchestration_with_retry_succeeds_on_third_attempt(app: httpx.Client, http: httpx.Client) -> None:
    key = fresh_id("attempts")
    status = finished(http, start(app, "resilient_parent", {"key": key, "succeed_on": 3, "attempts": 4}))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"child": "succeeded on attempt 3"}


def test_sub_orchestration_with_retry_runs_out_of_attempts(app: httpx.Client, http: httpx.Client) -> None:
    key = fresh_id("attempts")
    status = finished(http, start(app, "resilient_parent", {"key": key, "succeed_on": 5, "attempts": 2}))
    assert status["runtimeStatus"] == "Failed", status
    assert "attempt 2 failed" in str(status["output"]), status


def test_custom_object_input_through_orchestrator_and_activity(app: httpx.Client, http: httpx.Client) -> None:
    # The starter passes an Order to start_new; the trigger's input_type and the activity both
    # get an Order back; wait_for_completion_or_create_check_status_response answers the output.
    response = app.post("/api/orders", json={"customer": "ada", "items": {"apple": 4, "melon": 1}})
    assert response.status_code == 200, shown(response)
    assert response.json() == {"customer": "ada", "total": 5.0}


def test_custom_object_as_orchestration_output_fails_the_instance(app: httpx.Client, http: httpx.Client) -> None:
    # The SDK refuses it (json.dumps) and reports isDone with an error; the extension fails the
    # instance rather than completing it with no output.
    status = finished(http, start(app, "returns_order"))
    assert status["runtimeStatus"] == "Failed", status
    assert "not JSON serializable" in str(status["output"]), status


def test_new_uuid_is_replay_safe_and_is_replaying_guards_logs(app: httpx.Client, http: httpx.Client, host: HostHandle) -> None:
    management = start(app, "uuid_steps")
    status = finished(http, management)
    assert status["runtimeStatus"] == "Completed", status
    ids, echoes = status["output"]["ids"], status["output"]["echoes"]
    # Each id went through an activity in one episode and was generated again on every later
    # replay: the same value each time.
    assert ids == echoes and len(set(ids)) == 3
    other = finished(http, start(app, "uuid_steps"))["output"]["ids"]
    assert not set(other) & set(ids)

    instance_id = management["id"]

    def log_lines(marker: str) -> list[str]:
        return [line for line in host.output().splitlines() if f"{marker} {instance_id}" in line]

    wait_for(lambda: len(log_lines("compat-first-run")) >= 3, "the guarded log lines", timeout=10)
    assert sorted(line[line.index("step"):] for line in log_lines("compat-first-run")) == [
        "step 0", "step 1", "step 2"
    ]
    # Unguarded lines repeat on replay: step 0 runs in every episode (four, one per activity result).
    assert sum("step 0" in line for line in log_lines("compat-every-replay")) >= 3


def test_terminate_restart_and_rewind(app: httpx.Client, http: httpx.Client) -> None:
    waiting = start(app, "wait_for_go", {"n": 1}, instance_id=fresh_id("waiter"))
    poll_status(http, waiting["statusQueryGetUri"], lambda s: s["runtimeStatus"] == "Running")
    response = app.post(f"/api/instances/{waiting['id']}/terminate", params={"reason": "no longer needed"})
    assert response.status_code == 200, shown(response)
    status = finished(http, waiting)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "no longer needed"

    done = finished(http, start(app, "doubled", 21, instance_id=fresh_id("doubled")))
    assert done["output"] == 42
    response = app.post(f"/api/instances/{done['instanceId']}/restart", params={"newId": "true"})
    assert response.status_code == 200, shown(response)
    new_id = response.json()["id"]
    assert new_id != done["instanceId"]
    again = wait_for(
        lambda: (s := read_status(http, waiting["statusQueryGetUri"].replace(waiting["id"], new_id)))
        and s["runtimeStatus"] == "Completed" and s,
        "the restarted instance",
    )
    assert again["output"] == 42 and again["input"] == 21

    # createdTime has whole seconds (as in Azure): let one pass so the restart shows in it.
    wait_for(lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") != done["createdTime"], "a new second")
    response = app.post(f"/api/instances/{done['instanceId']}/restart", params={"newId": "false"})
    assert response.status_code == 200, shown(response)
    assert response.json()["id"] == done["instanceId"]
    same = poll_status(
        http, waiting["statusQueryGetUri"].replace(waiting["id"], done["instanceId"]),
        lambda s: s["runtimeStatus"] == "Completed" and s["createdTime"] != done["createdTime"],
    )
    assert same["output"] == 42

    failed = finished(http, start(app, "always_fails"))
    assert failed["runtimeStatus"] == "Failed"
    # The SDK's rewind: 202 for a failed instance (it fails again: its code always raises).
    response = app.post(f"/api/instances/{failed['instanceId']}/rewind")
    assert response.status_code == 200, shown(response)
    # As with the extension: an unknown instance is "not found", a completed one cannot be rewound.
    response = app.post(f"/api/instances/{fresh_id('nobody')}/rewind")
    assert response.status_code == 409 and "No instance with ID" in response.json()["error"], shown(response)
    response = app.post(f"/api/instances/{done['instanceId']}/rewind")
    assert response.status_code == 409, shown(response)
    assert "only supported on failed" in response.json()["error"], shown(response)
    # Terminating an unknown instance is refused the same way.
    response = app.post(f"/api/instances/{fresh_id('nobody')}/terminate")
    assert response.status_code == 409 and "found" in response.json()["error"], shown(response)


def test_status_queries_and_purge_by_condition(app: httpx.Client, http: httpx.Client) -> None:
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    running = start(app, "wait_for_go", {"n": 2}, instance_id=fresh_id("query-running"))
    completed = start(app, "doubled", 5, instance_id=fresh_id("query-done"))
    poll_status(http, running["statusQueryGetUri"], lambda s: s["runtimeStatus"] == "Running")
    finished(http, completed)

    everything = {row["id"]: row for row in app.get("/api/instances").json()}
    assert everything[running["id"]] == {"id": running["id"], "name": "wait_for_go", "status": "Running"}
    assert everything[completed["id"]]["status"] == "Completed"

    only_running = {row["id"] for row in app.get("/api/instances", params={"status": "Running"}).json()}
    assert running["id"] in only_running and completed["id"] not in only_running
    both = {row["id"] for row in app.get("/api/instances", params={"status": "Running,Completed"}).json()}
    assert {running["id"], completed["id"]} <= both

    response = app.delete("/api/instances", params={"from": since.isoformat(), "status": "Completed"})
    assert response.status_code == 200, shown(response)
    assert response.json()["deleted"] >= 1
    assert read_status(http, completed["statusQueryGetUri"]) is None
    assert read_status(http, running["statusQueryGetUri"])["runtimeStatus"] == "Running"

    send = running["sendEventPostUri"].replace("{eventName}", "go")
    assert http.post(send, json="now").status_code == 202
    assert finished(http, running)["output"] == {"input": {"n": 2}, "go": "now"}
