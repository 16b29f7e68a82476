"""Every Durable feature of tests/apps/features, end to end through a real dev host process.

One host for the module; every test uses fresh instance ids (and entity keys), so tests never
interfere and can run in any order.
"""

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.engine import IN_FLIGHT
from devhost.testing import HostHandle
from tests.devhost.e2e_support import (
    durable_api,
    event_url,
    features_host_fixtures,
    fresh_id,
    poll_finished,
    poll_status,
    read_status,
    reason_url,
    shown,
    start_via_durable_api,
    wait_for,
)

pytestmark = pytest.mark.e2e

scratch, host, http = features_host_fixtures("features-scratch", enable_auth=True)


def start_via_app(
    http: httpx.Client, host: HostHandle, name: str, instance_id: str, body: Any = None
) -> dict[str, str]:
    """Start through the app's own HTTP starter (durable client binding); returns its check-status payload."""
    response = http.post(
        f"/api/orchestrators/{name}/{instance_id}",
        headers={"x-functions-key": host.function_key},
        content=json.dumps(body) if body is not None else b"",
    )
    assert response.status_code == 202, shown(response)
    management = response.json()
    assert management["id"] == instance_id
    assert response.headers["Location"] == management["statusQueryGetUri"]
    return management


def waiting_for_approval(status: dict[str, Any]) -> bool:
    return status["runtimeStatus"] == "Running" and status.get("customStatus") == {
        "stage": "waiting",
        "event": "Approval",
    }


def test_starter_needs_a_function_key(http: httpx.Client) -> None:
    response = http.post(f"/api/orchestrators/hello_chain/{fresh_id('nokey')}")
    assert response.status_code == 401


def test_chain_of_three_activities(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "hello_chain", fresh_id("chain"))
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["name"] == "hello_chain"
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_start_without_an_instance_id(http: httpx.Client, host: HostHandle) -> None:
    response = http.post("/api/orchestrators/hello_chain", headers={"x-functions-key": host.function_key})
    assert response.status_code == 202, shown(response)
    management = response.json()
    assert management["id"] and management["id"] in management["statusQueryGetUri"]
    assert poll_finished(http, management["statusQueryGetUri"])["runtimeStatus"] == "Completed"


def test_fan_out_of_200_activities(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_durable_api(http, host, "fan_out_fan_in", fresh_id("fan"), 200)
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"count": 200, "sum": sum(2 * i for i in range(200))}


def test_two_second_durable_timer(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "durable_timer", fresh_id("timer"), 2)
    running = read_status(http, management["statusQueryGetUri"])
    assert running is not None and running["runtimeStatus"] in IN_FLIGHT
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    started = datetime.fromisoformat(status["output"]["started"])
    fire_at = datetime.fromisoformat(status["output"]["fireAt"])
    resumed = datetime.fromisoformat(status["output"]["resumed"])
    assert fire_at - started == timedelta(seconds=2)
    # The orchestration resumed in an episode that started after the timer was due: never early.
    assert resumed >= fire_at


def test_external_event_and_custom_status(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "approval", fresh_id("event"))
    poll_status(http, management["statusQueryGetUri"], waiting_for_approval)
    raised = http.post(event_url(management, "Approval"), json={"by": "alice", "approved": True})
    assert raised.status_code == 202, raised.text
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"decision": {"by": "alice", "approved": True}}
    assert status["customStatus"] == {"stage": "decided"}


def test_sub_orchestration(http: httpx.Client, host: HostHandle) -> None:
    instance_id = fresh_id("parent")
    management = start_via_app(http, host, "parent_of_chain", instance_id, ["Ann", "Bob"])
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    child_id = f"{instance_id}-child"
    assert status["output"] == {"childId": child_id, "greetings": ["Hello Ann!", "Hello Bob!"]}
    child = read_status(http, durable_api(f"instances/{child_id}", host.system_key))
    assert child is not None
    assert (child["name"], child["runtimeStatus"], child["input"]) == (
        "hello_chain",
        "Completed",
        ["Ann", "Bob"],
    )


def test_activity_succeeds_on_third_retry(http: httpx.Client, host: HostHandle, scratch: Path) -> None:
    instance_id = fresh_id("retry")
    management = start_via_app(http, host, "retried_activity", instance_id, {"failures": 2, "maxAttempts": 3})
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"attempts": 3}
    assert len((scratch / "features-app" / f"{instance_id}.flaky").read_text().splitlines()) == 3


def test_retries_exhausted_fail_the_orchestration(
    http: httpx.Client, host: HostHandle, scratch: Path
) -> None:
    instance_id = fresh_id("giveup")
    management = start_via_app(http, host, "retried_activity", instance_id, {"failures": 5, "maxAttempts": 2})
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Failed"
    assert "flaky failure 2 of 5" in json.dumps(status["output"])
    assert len((scratch / "features-app" / f"{instance_id}.flaky").read_text().splitlines()) == 2


async def _send_signals(base_url: str, requests: list[str], function_key: str) -> list[int]:
    # Bounded concurrency: many signals in flight at once, without opening 500 sockets.
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def send(url: str) -> int:
            async with gate:
                # Durable HTTP API URLs carry the system key; the app's route needs a function key.
                headers = {} if "code=" in url else {"x-functions-key": function_key}
                # application/json: the Durable HTTP API passes any other body as a string.
                headers["Content-Type"] = "application/json"
                return (await client.post(url, content=b"1", headers=headers)).status_code

        return await asyncio.gather(*(send(url) for url in requests))


def test_counter_entity_ends_exact_after_500_concurrent_signals(http: httpx.Client, host: HostHandle) -> None:
    key = fresh_id("counter")
    # Half through the app's own starter (client.signal_entity), half through the Durable HTTP API.
    via_app = [f"/api/counters/{key}/add"] * 250
    via_api = [durable_api(f"entities/counter/{key}", host.system_key, op="add")] * 250
    codes = asyncio.run(
        _send_signals(host.base_url, [u for pair in zip(via_app, via_api) for u in pair], host.function_key)
    )
    assert codes == [202] * 500

    def read_counter() -> int | None:
        response = http.get(f"/api/counters/{key}", headers={"x-functions-key": host.function_key})
        return response.json()["value"] if response.status_code == 200 else None

    wait_for(lambda: (read_counter() or 0) >= 500, "the counter to reach 500")
    assert read_counter() == 500
    via_durable_api = http.get(durable_api(f"entities/counter/{key}", host.system_key))
    assert (via_durable_api.status_code, via_durable_api.json()) == (200, 500)
    listed = http.get(durable_api("instances", host.system_key, instanceIdPrefix=f"@counter@{key}"))
    assert [(i["instanceId"], i["runtimeStatus"]) for i in listed.json()] == [(f"@counter@{key}", "Running")]


def test_continue_as_new_loop(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(
        http, host, "countdown", fresh_id("loop"), {"remaining": 5, "total": 0, "generations": 0}
    )
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"total": 2 * (1 + 2 + 3 + 4 + 5), "generations": 5}
    # As on Azure, the status shows the input of the last generation.
    assert status["input"] == {"remaining": 0, "total": 30, "generations": 5}


def test_terminate(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "approval", fresh_id("terminate"))
    poll_status(http, management["statusQueryGetUri"], waiting_for_approval)
    response = http.post(reason_url(management, "terminatePostUri", "no longer needed"))
    assert response.status_code == 202, shown(response)
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "no longer needed"
    # A finished instance cannot be terminated again: 410 Gone, as on Azure.
    assert http.post(reason_url(management, "terminatePostUri", "again")).status_code == 410


def test_suspend_holds_events_until_resume(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "approval", fresh_id("suspend"))
    poll_status(http, management["statusQueryGetUri"], waiting_for_approval)
    assert http.post(reason_url(management, "suspendPostUri", "maintenance")).status_code == 202
    poll_status(http, management["statusQueryGetUri"], lambda s: s["runtimeStatus"] == "Suspended")
    assert http.post(event_url(management, "Approval"), json="while suspended").status_code == 202
    # A second suspend queues behind the event: once it is in the history, the host has handled
    # the event too, and it must have been held, not delivered.
    assert http.post(reason_url(management, "suspendPostUri", "marker")).status_code == 202
    still = poll_status(
        http,
        management["statusQueryGetUri"] + "&showHistory=true",
        lambda s: [e["EventType"] for e in s["historyEvents"]].count("ExecutionSuspended") == 2,
    )
    assert still["runtimeStatus"] == "Suspended"
    assert "EventRaised" not in [e["EventType"] for e in still["historyEvents"]]
    assert http.post(reason_url(management, "resumePostUri", "done")).status_code == 202
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"decision": "while suspended"}


def test_purge_forgets_a_finished_instance(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "hello_chain", fresh_id("purge"), ["Zed"])
    assert poll_finished(http, management["statusQueryGetUri"])["runtimeStatus"] == "Completed"
    purged = http.delete(management["purgeHistoryDeleteUri"])
    assert (purged.status_code, purged.json()) == (200, {"instancesDeleted": 1})
    assert read_status(http, management["statusQueryGetUri"]) is None
    assert http.delete(management["purgeHistoryDeleteUri"]).status_code == 404


def test_query_by_prefix_and_status(http: httpx.Client, host: HostHandle) -> None:
    prefix = fresh_id("query")
    ids = [f"{prefix}-{n}" for n in range(3)]
    for instance_id in ids:
        poll_finished(
            http, start_via_durable_api(http, host, "hello_chain", instance_id, ["Q"])["statusQueryGetUri"]
        )
    listed = http.get(
        durable_api("instances", host.system_key, instanceIdPrefix=prefix, runtimeStatus="Completed,Failed")
    )
    assert listed.status_code == 200
    assert sorted(i["instanceId"] for i in listed.json()) == ids
    assert all(i["output"] == ["Hello Q!"] for i in listed.json())


class _RecordingHandler(BaseHTTPRequestHandler):
    """A tiny real HTTP service for call_http: GET /greeting, POST /echo (recorded)."""

    received: list[tuple[str, str, str]] = []

    def do_GET(self) -> None:
        self.received.append(("GET", self.path, ""))
        self._answer(200, "hi from the test server")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.received.append(("POST", self.path, body))
        self._answer(201, f"echo:{body}")

    def _answer(self, status: int, text: str) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def http_service() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    received: list[tuple[str, str, str]] = []
    handler = type("Handler", (_RecordingHandler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_call_http_to_a_local_server(
    http: httpx.Client, host: HostHandle, http_service: tuple[str, list[tuple[str, str, str]]]
) -> None:
    url, received = http_service
    instance_id = fresh_id("callhttp")
    management = start_via_app(http, host, "http_probe", instance_id, {"url": url})
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {
        "getStatus": 200,
        "getContent": "hi from the test server",
        "postStatus": 201,
        "postContent": f'echo:{{"instance": "{instance_id}"}}',
    }
    assert ("POST", "/echo", json.dumps({"instance": instance_id})) in received


def test_wait_for_completion_returns_the_output(http: httpx.Client, host: HostHandle) -> None:
    response = http.post(
        f"/api/wait/hello_chain/{fresh_id('wait')}",
        params={"timeoutMs": "30000"},
        headers={"x-functions-key": host.function_key},
        content=json.dumps(["Wendy"]),
    )
    assert response.status_code == 200, shown(response)
    assert response.json() == ["Hello Wendy!"]


def test_wait_for_completion_falls_back_to_check_status(http: httpx.Client, host: HostHandle) -> None:
    instance_id = fresh_id("waitlong")
    response = http.post(
        f"/api/wait/approval/{instance_id}",
        params={"timeoutMs": "300"},
        headers={"x-functions-key": host.function_key},
    )
    assert response.status_code == 202, shown(response)
    management = response.json()
    assert management["id"] == instance_id
    assert http.post(event_url(management, "Approval"), json="late").status_code == 202
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["output"] == {"decision": "late"}


def test_history_of_a_chain(http: httpx.Client, host: HostHandle) -> None:
    management = start_via_app(http, host, "hello_chain", fresh_id("history"), ["Ada", "Bo"])
    poll_finished(http, management["statusQueryGetUri"])
    status = read_status(http, f"{management['statusQueryGetUri']}&showHistory=true&showHistoryOutput=true")
    assert status is not None
    events = status["historyEvents"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    completed = [(e["FunctionName"], e["Result"]) for e in events if e["EventType"] == "TaskCompleted"]
    assert completed == [("say_hello", "Hello Ada!"), ("say_hello", "Hello Bo!")]


def test_paged_query_then_purge_by_filter(http: httpx.Client, host: HostHandle) -> None:
    prefix = fresh_id("paged")
    since = datetime.now(timezone.utc).isoformat()  # only this test's instances are newer
    ids = [f"{prefix}-{n}" for n in range(5)]
    for instance_id in ids:
        management = start_via_durable_api(http, host, "hello_chain", instance_id, ["P"])
        poll_finished(http, management["statusQueryGetUri"])

    seen: list[str] = []
    token: str | None = None
    for _ in range(10):  # 5 instances, 2 per page: 3 pages
        headers = {"x-ms-continuation-token": token} if token else {}
        page = http.get(
            durable_api("instances", host.system_key, instanceIdPrefix=prefix, top="2"), headers=headers
        )
        assert page.status_code == 200 and len(page.json()) <= 2
        seen.extend(i["instanceId"] for i in page.json())
        token = page.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert sorted(seen) == ids

    # As the extension: a purge by filter takes createdTimeFrom/To and runtimeStatus, no prefix.
    purge = durable_api("instances", host.system_key, createdTimeFrom=since, runtimeStatus="Completed")
    purged = http.delete(purge)
    assert (purged.status_code, purged.json()) == (200, {"instancesDeleted": 5})
    assert http.get(durable_api("instances", host.system_key, instanceIdPrefix=prefix)).json() == []
