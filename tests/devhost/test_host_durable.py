"""The durable client binding (the SDK's own DurableOrchestrationClient against the RPC
listener) and the public Durable HTTP API, through a real dev host process."""

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.testing import HostHandle, HostStartError, running_host

APPS = Path(__file__).resolve().parent.parent / "apps"
WEBHOOK = "/runtime/webhooks/durabletask"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host() -> Iterator[HostHandle]:
    with running_host(APPS / "host_durable", enable_auth=True) as handle:  # the key test needs it
        yield handle


@pytest.fixture
def client(host: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as c:
        yield c


@pytest.fixture
def durable(host: HostHandle) -> Iterator[httpx.Client]:
    """The public Durable HTTP API, authorized with the system key."""
    with httpx.Client(
        base_url=f"{host.base_url}{WEBHOOK}", params={"code": host.system_key}, timeout=30
    ) as c:
        yield c


def call(client: httpx.Client, op: str, **args: Any) -> Any:
    """One DurableOrchestrationClient call made by the app; SDK errors come back as 409."""
    response = client.post(f"/api/client/{op}", json=args)
    body = response.json()
    if response.status_code != 200:
        raise AssertionError(body["error"])
    return body["result"]


def wait_for(client: httpx.Client, instance_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status = call(client, "status", id=instance_id)
        if status["runtimeStatus"] in statuses:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def test_check_status_response_points_at_the_webhooks_with_the_system_key(
    host: HostHandle, client: httpx.Client
) -> None:
    response = client.post("/api/orchestrators/hello_sequence", json=["Ada"])
    assert response.status_code == 202
    payload = response.json()
    iid = payload["id"]
    assert payload["statusQueryGetUri"].startswith(f"{host.base_url}{WEBHOOK}/instances/{iid}?")
    assert "taskHub=HostDurableHub" in payload["statusQueryGetUri"]
    assert f"code={host.system_key}" in payload["statusQueryGetUri"]
    assert response.headers["location"] == payload["statusQueryGetUri"]
    assert set(payload) >= {
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "suspendPostUri",
        "resumePostUri",
    }
    deadline = time.monotonic() + 30
    while (status := httpx.get(payload["statusQueryGetUri"])).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status.status_code == 200
    assert status.json()["runtimeStatus"] == "Completed"
    assert status.json()["output"] == ["Hello Ada!"]
    assert status.json()["customStatus"] == {"done": 1}


def test_wait_for_completion_returns_the_output(client: httpx.Client) -> None:
    response = client.post("/api/wait/hello_sequence", json=["A", "B"])
    assert response.status_code == 200
    assert response.json() == ["Hello A!", "Hello B!"]


def test_sdk_client_start_status_suspend_resume_and_raise_event(client: httpx.Client) -> None:
    iid = new_id("approval")
    assert call(client, "start", name="wait_for_approval", id=iid, input={"x": 1}) == iid
    assert wait_for(client, iid, "Running")["input"] == {"x": 1}
    call(client, "suspend", id=iid)
    wait_for(client, iid, "Suspended")
    call(client, "resume", id=iid)
    wait_for(client, iid, "Running")
    call(client, "raise", id=iid, event="Approval", data={"ok": True})
    done = wait_for(client, iid, "Completed")
    assert done["output"] == {"approved": {"ok": True}, "input": {"x": 1}}
    assert done["historyLength"] > 0 and done["name"] == "wait_for_approval"


def test_sdk_client_terminate_and_errors_for_unknown_instances(client: httpx.Client) -> None:
    iid = new_id("terminated")
    call(client, "start", name="wait_for_approval", id=iid)
    wait_for(client, iid, "Running")
    call(client, "terminate", id=iid, reason="test over")
    wait_for(client, iid, "Terminated")
    call(client, "terminate", id=iid)  # a finished instance: 410, which the SDK accepts
    assert call(client, "status", id=new_id("missing"))["exists"] is False
    with pytest.raises(AssertionError, match="No instance with ID"):
        call(client, "raise", id=new_id("missing"), event="Approval")
    with pytest.raises(AssertionError, match="only supported on failed"):  # 410, as in Azure
        call(client, "rewind", id=iid)
    with pytest.raises(AssertionError):
        call(client, "start", name="no_such_orchestrator")


def test_sdk_client_query_purge_and_restart(client: httpx.Client) -> None:
    iid = call(client, "start", name="hello_sequence", input=["Q"])
    wait_for(client, iid, "Completed")
    assert iid in call(client, "query", statuses=["Completed"])
    assert iid not in call(client, "query", statuses=["Running"])
    assert iid in call(client, "all")
    restarted = call(client, "restart", id=iid)
    assert restarted != iid
    assert wait_for(client, restarted, "Completed")["output"] == ["Hello Q!"]
    assert call(client, "restart", id=restarted, new_id=False) == restarted
    assert wait_for(client, restarted, "Completed")["output"] == ["Hello Q!"]
    assert call(client, "purge", id=iid) == 1
    assert call(client, "status", id=iid)["exists"] is False
    assert call(client, "purge", id=iid) == 0
    assert call(client, "purge_by", statuses=["Completed"]) >= 1


def test_sdk_client_signals_and_reads_an_entity(client: httpx.Client) -> None:
    key = uuid.uuid4().hex
    assert call(client, "read", entity="Counter", key=key) == {"exists": False, "state": None}
    call(client, "signal", entity="Counter", key=key, operation="add", input=5)
    call(client, "signal", entity="Counter", key=key, operation="add", input=3)
    deadline = time.monotonic() + 30
    while call(client, "read", entity="Counter", key=key) != {"exists": True, "state": 8}:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_management_payload_has_the_instance_id_everywhere(host: HostHandle, client: httpx.Client) -> None:
    payload = call(client, "payload", id="abc123")
    assert payload["id"] == "abc123"
    assert all("INSTANCEID" not in url for url in payload.values())
    assert payload["sendEventPostUri"].startswith(f"{host.base_url}{WEBHOOK}/instances/abc123/raiseEvent/")


def test_public_api_requires_the_system_or_master_key(host: HostHandle) -> None:
    url = f"{host.base_url}{WEBHOOK}/instances"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, params={"code": host.function_key}).status_code == 401
    assert httpx.get(url, headers={"x-functions-key": host.system_key}).status_code == 200
    assert httpx.get(url, params={"code": host.master_key}).status_code == 200


def test_public_api_start_event_terminate_and_status_codes(durable: httpx.Client) -> None:
    iid = new_id("public")
    started = durable.post(f"/orchestrators/wait_for_approval/{iid}", json={"p": 1})
    assert started.status_code == 202 and started.json()["id"] == iid
    assert durable.get(f"/instances/{iid}").status_code == 202
    assert durable.post(f"/instances/{iid}/raiseEvent/Approval", content=b"not json").status_code == 400
    assert durable.post(f"/instances/{iid}/raiseEvent/Approval", json="yes").status_code == 202
    deadline = time.monotonic() + 30
    while (status := durable.get(f"/instances/{iid}")).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status.status_code == 200
    assert status.json()["output"] == {"approved": "yes", "input": {"p": 1}}
    assert durable.post(f"/instances/{iid}/raiseEvent/Approval", json=1).status_code == 410
    assert durable.post(f"/instances/{iid}/terminate", params={"reason": "late"}).status_code == 410
    missing = durable.get(f"/instances/{new_id('missing')}")
    assert missing.status_code == 404 and missing.content == b""  # the extension's bare 404
    assert durable.post(f"/instances/{new_id('missing')}/terminate").status_code == 404
    assert durable.post("/orchestrators/no_such_orchestrator").status_code == 400
    assert durable.delete(f"/instances/{iid}").json() == {"instancesDeleted": 1}
    assert durable.delete(f"/instances/{iid}").status_code == 404


def test_public_api_queries_page_with_the_continuation_token(durable: httpx.Client) -> None:
    prefix = new_id("paged")
    for n in range(3):
        assert durable.post(f"/orchestrators/hello_sequence/{prefix}-{n}", json=[str(n)]).status_code == 202
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        headers = {"x-ms-continuation-token": token} if token else {}
        page = durable.get("/instances", params={"instanceIdPrefix": prefix, "top": 2}, headers=headers)
        assert page.status_code == 200 and len(page.json()) <= 2
        seen += [s["instanceId"] for s in page.json()]
        token = page.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert sorted(seen) == [f"{prefix}-{n}" for n in range(3)]
    # As the extension's parser: an unreadable status is dropped, not refused.
    assert durable.get("/instances", params={"runtimeStatus": "Nonsense"}).status_code == 200


def test_public_api_entities(durable: httpx.Client) -> None:
    key = uuid.uuid4().hex
    assert durable.get(f"/entities/Counter/{key}").status_code == 404
    assert durable.post(f"/entities/Counter/{key}", params={"op": "add"}, json=4).status_code == 202
    deadline = time.monotonic() + 30
    while (state := durable.get(f"/entities/Counter/{key}")).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert state.json() == 4
    listed = durable.get("/entities/Counter", params={"fetchState": "true"}).json()
    assert {"entityId": {"name": "counter", "key": key}, "state": 4} in [
        {"entityId": e["entityId"], "state": e["state"]} for e in listed
    ]


def activity_runs(handle: HostHandle, instance_id: str) -> int:
    """How many times the host ran an activity of `instance_id`, from its log."""
    return handle.output().count(f"Executed 'Functions.say_hello' (Succeeded, Id={instance_id},")


def run_hello_sequence(handle: HostHandle, names: list[str]) -> str:
    """Start hello_sequence through the app and wait for its exact output; returns the id."""
    iid = new_id("faults")
    with httpx.Client(base_url=handle.base_url, timeout=30) as c:
        assert c.post(f"/api/orchestrators/hello_sequence/{iid}", json=names).status_code == 202
        assert wait_for(c, iid, "Completed")["output"] == [f"Hello {n}!" for n in names]
    return iid


def test_without_faults_each_activity_runs_once(host: HostHandle) -> None:
    iid = run_hello_sequence(host, ["A", "B", "C"])
    # Each result is what the orchestrator waited for, so all three ran before it completed.
    assert activity_runs(host, iid) == 3


def test_duplicate_activities_setting_runs_each_activity_twice() -> None:
    with running_host(APPS / "host_durable", env={"DEVHOST_FAULT_DUPLICATE_ACTIVITIES": "true"}) as handle:
        iid = run_hello_sequence(handle, ["A", "B", "C"])
        # The second delivery of the last activity may finish after the orchestration did.
        deadline = time.monotonic() + 30
        while activity_runs(handle, iid) < 6:
            assert time.monotonic() < deadline, f"{activity_runs(handle, iid)} activity runs, not 6"
            time.sleep(0.05)
        assert activity_runs(handle, iid) == 6


def test_crash_replay_setting_aborts_episodes_that_are_then_replayed() -> None:
    # With this seed the first draw (0.13) is under the rate: the very first episode is aborted.
    env = {"DEVHOST_FAULT_CRASH_REPLAY_RATE": "0.5", "DEVHOST_FAULT_SEED": "1"}
    with running_host(APPS / "host_durable", env=env) as handle:
        iid = run_hello_sequence(handle, ["A", "B", "C"])
        assert f"Aborted episode of 'hello_sequence' (Id={iid})" in handle.output()


def test_a_malformed_fault_setting_stops_the_host_at_start() -> None:
    with pytest.raises(HostStartError, match="DEVHOST_FAULT_CRASH_REPLAY_RATE"):
        with running_host(APPS / "host_durable", env={"DEVHOST_FAULT_CRASH_REPLAY_RATE": "lots"}):
            pass


def test_an_instance_survives_sigkill_and_sigint_stops_cleanly(tmp_path: Path) -> None:
    with running_host(APPS / "host_durable", data_dir=tmp_path / "data") as handle:
        iid = new_id("survivor")
        with httpx.Client(base_url=handle.base_url, timeout=30) as c:
            call(c, "start", name="wait_for_approval", id=iid, input="before the crash")
            wait_for(c, iid, "Running")
        handle.kill()
        handle.restart()
        with httpx.Client(base_url=handle.base_url, timeout=30) as c:
            call(c, "raise", id=iid, event="Approval", data="after")
            assert wait_for(c, iid, "Completed")["output"] == {
                "approved": "after",
                "input": "before the crash",
            }
        handle.process.send_signal(signal.SIGINT)
        assert handle.process.wait(30) == 0
        assert "Host stopped" in handle.output()
        assert "Unclosed client session" not in handle.output()
