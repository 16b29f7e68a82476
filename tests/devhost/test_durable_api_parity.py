"""The Durable HTTP API answers as the extension's HttpApiHandler.cs does (Azure/azure-functions-
durable-extension, src/WebJobs.Extensions.DurableTask/), one behaviour per test; each is a row of
the parity table in docs/devhost.md. Sources named per test: HttpApiHandler.cs (HAH),
ContextImplementations/DurableClient.cs (DC), HttpRequestMessageExtensions.cs (HRME),
OverridableStates.cs, and DurableTask.AzureStorage's AzureStorageOrchestrationService.cs and
Tracking/AzureTableTrackingStore.cs (Azure/durabletask)."""

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.engine.history import EventType
from devhost.engine.status import history_events
from devhost.testing import HostHandle, running_host

APPS = Path(__file__).resolve().parent.parent / "apps"
WEBHOOK = "/runtime/webhooks/durabletask"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parity")


@pytest.fixture(scope="module")
def host(scratch: Path) -> Iterator[HostHandle]:
    with running_host(APPS / "parity", env={"PARITY_SCRATCH_DIR": str(scratch)}) as handle:
        yield handle


@pytest.fixture(scope="module")
def api(host: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url + WEBHOOK, timeout=30) as client:
        yield client


def new_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def settle(api: httpx.Client, instance_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body = api.get(f"/instances/{instance_id}").json()
        if body["runtimeStatus"] in statuses:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def runs(scratch: Path, marker: str) -> list[str]:
    path = scratch / f"{marker}.runs"
    return path.read_text().split() if path.exists() else []


# --- starting an id that exists (DC StartNewAsync, OverridableStates.cs) ----------------------


def test_start_over_a_running_instance_is_a_500_with_the_already_exists_exception(api: httpx.Client) -> None:
    # HAH HandleStartOrchestratorRequestAsync lets OrchestrationAlreadyExistsException reach
    # HandleRequestAsync's catch-all; its text is AzureStorageOrchestrationService.cs's.
    iid = new_id("dup")
    assert api.post(f"/orchestrators/waits_for_go/{iid}").status_code == 202
    settle(api, iid, "Running")
    again = api.post(f"/orchestrators/waits_for_go/{iid}")
    assert again.status_code == 500
    assert again.json() == {
        "Message": "Something went wrong while processing your request",
        "ExceptionMessage": "An Orchestration instance with the status Running already exists.",
        "ExceptionType": "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
        "StackTrace": None,
    }


def test_start_over_a_finished_instance_replaces_it(api: httpx.Client) -> None:
    iid = new_id("again")
    api.post(f"/orchestrators/waits_for_go/{iid}")
    settle(api, iid, "Running")
    api.post(f"/instances/{iid}/raiseEvent/Go", json="first")
    assert settle(api, iid, "Completed")["output"] == "first"
    assert api.post(f"/orchestrators/waits_for_go/{iid}").status_code == 202
    assert settle(api, iid, "Running")["output"] is None  # a new run, not the old one


def test_any_state_replaces_even_a_running_instance(tmp_path: Path, scratch: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APPS / "parity", app, ignore=shutil.ignore_patterns("__pycache__", ".devhost"))
    (app / "host.json").write_text(
        '{"version": "2.0", "extensions": {"durableTask": {"overridableExistingInstanceStates": "AnyState"}}}'
    )
    with running_host(app, env={"PARITY_SCRATCH_DIR": str(scratch)}) as handle:
        with httpx.Client(base_url=handle.base_url + WEBHOOK, timeout=30) as client:
            iid = new_id("any")
            client.post(f"/orchestrators/waits_for_go/{iid}", json=1)
            settle(client, iid, "Running")
            assert client.post(f"/orchestrators/waits_for_go/{iid}", json=2).status_code == 202
            assert settle(client, iid, "Running")["input"] == 2
        assert "overridableExistingInstanceStates AnyState" in handle.output()


# --- error bodies (HRME CreateErrorResponse, HAH) --------------------------------------------


def test_unknown_instance_is_a_bare_404(api: httpx.Client) -> None:
    missing = api.get(f"/instances/{new_id('nobody')}")
    assert missing.status_code == 404 and missing.content == b""


def test_unknown_orchestrator_is_a_400_naming_the_known_ones(api: httpx.Client) -> None:
    response = api.post("/orchestrators/no_such_thing")
    assert response.status_code == 400
    body = response.json()
    assert body["Message"] == "One or more of the arguments submitted is incorrect"
    assert body["ExceptionType"] == "System.ArgumentException"
    assert body["ExceptionMessage"].startswith("The function 'no_such_thing' doesn't exist")
    assert "'flaky_chain'" in body["ExceptionMessage"]


def test_start_with_bad_json_is_invalid_json_content(api: httpx.Client) -> None:
    response = api.post(f"/orchestrators/waits_for_go/{new_id('badjson')}", content=b"{nope")
    assert response.status_code == 400 and response.json()["Message"] == "Invalid JSON content"


# --- status answers (HAH HandleGetStatusRequestAsync) -----------------------------------------


def test_running_status_says_retry_after_5_and_start_says_10(api: httpx.Client) -> None:
    iid = new_id("retry")
    started = api.post(f"/orchestrators/waits_for_go/{iid}")
    assert started.headers["Retry-After"] == "10"  # CreateCheckStatusResponseMessage
    assert "rewindPostUri" not in started.json()
    status = api.get(f"/instances/{iid}")
    assert status.status_code == 202 and status.headers["Retry-After"] == "5"


def test_timeout_alone_does_not_wait(api: httpx.Client) -> None:
    iid = new_id("timeout")
    alone = api.post(f"/orchestrators/waits_for_go/{iid}", params={"timeout": "2"})
    assert alone.status_code == 202 and alone.elapsed < timedelta(seconds=1.5)
    waited = api.post(f"/orchestrators/waits_for_go/{new_id('both')}", params={"timeout": "1", "pollingInterval": "0.2"})
    assert waited.status_code == 202 and waited.elapsed >= timedelta(seconds=0.9)


# --- raise event (HAH HandleRaiseEventRequestAsync) -------------------------------------------


def test_raise_event_checks_the_instance_before_the_body(api: httpx.Client) -> None:
    assert api.post(f"/instances/{new_id('ghost')}/raiseEvent/Go", content=b"not json").status_code == 404


def test_raise_event_takes_only_application_json(api: httpx.Client) -> None:
    iid = new_id("ctype")
    api.post(f"/orchestrators/waits_for_go/{iid}")
    settle(api, iid, "Running")
    text = api.post(f"/instances/{iid}/raiseEvent/Go", content=b'"x"', headers={"Content-Type": "text/plain"})
    assert text.status_code == 400
    assert text.json() == {"Message": "Only application/json request content is supported"}
    bad = api.post(f"/instances/{iid}/raiseEvent/Go", content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["Message"] == "Invalid JSON content"
    assert api.post(f"/instances/{iid}/raiseEvent/Go", json={"ok": 1}).status_code == 202
    assert settle(api, iid, "Completed")["output"] == {"ok": 1}
    assert api.post(f"/instances/{iid}/raiseEvent/Go", json=1).status_code == 410


# --- queries and purges (HAH HandleGetStatusRequestAsync, HandleDeleteHistoryWithFiltersRequestAsync)


def test_unparsable_query_values_are_dropped_not_refused(api: httpx.Client) -> None:
    for params in ({"runtimeStatus": "Nonsense"}, {"runtimeStatus": "running"}, {"top": "many"},
                   {"createdTimeFrom": "yesterday"}, {"showInput": "maybe"}):
        assert api.get("/instances", params=params).status_code == 200, params
    iid = new_id("casing")
    api.post(f"/orchestrators/waits_for_go/{iid}")
    settle(api, iid, "Running")
    ids = lambda **p: [s["instanceId"] for s in api.get("/instances", params={"instanceIdPrefix": iid, **p}).json()]  # noqa: E731
    assert ids(runtimeStatus="Running") == [iid]
    assert ids(runtimeStatus="Completed") == []
    assert ids(runtimeStatus="running") == [iid]  # dropped (case-sensitive Enum.TryParse): no filter
    assert ids(runtimeStatus="Completed,Bogus") == []  # the readable value still filters


def test_purge_by_filter_needs_created_time_from(api: httpx.Client) -> None:
    response = api.delete("/instances")
    assert response.status_code == 400
    assert response.json() == "Please provide value for 'createdTimeFrom' parameter."
    iid = new_id("purge")
    since = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    api.post(f"/orchestrators/waits_for_go/{iid}")
    settle(api, iid, "Running")
    api.post(f"/instances/{iid}/raiseEvent/Go", json=0)
    settle(api, iid, "Completed")
    purged = api.delete("/instances", params={"createdTimeFrom": since, "runtimeStatus": "Completed"})
    assert purged.status_code == 200 and purged.json()["instancesDeleted"] >= 1
    assert api.get(f"/instances/{iid}").status_code == 404


def test_task_hub_parameter(api: httpx.Client) -> None:
    assert api.get("/instances", params={"taskHub": "parityhub"}).status_code == 200
    other = api.get("/instances", params={"taskHub": "SomeOtherHub"})
    assert other.status_code == 400 and "ParityHub" in other.json()["Message"]


# --- entities (HAH entity route, HandlePostEntityOperationRequestAsync, HandleGetEntityRequestAsync)


def wait_entity(api: httpx.Client, path: str, expected: Any) -> None:
    deadline = time.monotonic() + 30
    while (got := api.get(path)).status_code != 200 or got.json() != expected:
        assert time.monotonic() < deadline, got.text
        time.sleep(0.05)


def test_entity_text_plain_body_is_passed_as_a_string(api: httpx.Client) -> None:
    key = uuid.uuid4().hex
    assert api.post(f"/entities/Notes/{key}", params={"op": "add"}, content=b"hello",
                    headers={"Content-Type": "text/plain"}).status_code == 202
    assert api.post(f"/entities/Notes/{key}", params={"op": "add"}, json={"n": 1}).status_code == 202
    wait_entity(api, f"/entities/Notes/{key}", ["hello", {"n": 1}])


def test_entity_delete_and_the_empty_key(api: httpx.Client) -> None:
    assert api.post("/entities/Notes", params={"op": "add"}, json=1).status_code == 400
    key = uuid.uuid4().hex
    api.post(f"/entities/Notes/{key}", params={"op": "add"}, json=1)
    wait_entity(api, f"/entities/Notes/{key}", [1])
    assert api.delete(f"/entities/Notes/{key}").status_code == 202
    deadline = time.monotonic() + 30
    while api.get(f"/entities/Notes/{key}").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert api.get("/entities/Notes/$").status_code == 404  # "$" reads key "", which has no state


def test_entity_query_by_last_operation_time(api: httpx.Client) -> None:
    key = uuid.uuid4().hex
    api.post(f"/entities/Notes/{key}", params={"op": "add"}, json=1)
    wait_entity(api, f"/entities/Notes/{key}", [1])
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    keys = lambda **p: [e["entityId"]["key"] for e in api.get("/entities/Notes", params=p).json()]  # noqa: E731
    assert key in keys(lastOperationTimeFrom=past)
    assert key not in keys(lastOperationTimeFrom=future)
    assert key not in keys(lastOperationTimeTo=past)


def test_unknown_entity_is_a_400_with_the_extension_message(api: httpx.Client) -> None:
    response = api.post(f"/entities/Nope/{uuid.uuid4().hex}", params={"op": "x"})
    assert response.status_code == 400
    assert response.json()["Message"].startswith("The function 'Nope' doesn't exist, is disabled, or is not an entity function.")


# --- history (DC GetDurableOrchestrationStatusAsync) -----------------------------------------


def test_history_events_are_shaped_as_the_extension_shapes_them(api: httpx.Client, scratch: Path) -> None:
    marker = new_id("hist")
    (scratch / marker).touch()  # step b succeeds
    iid = new_id("history")
    api.post(f"/orchestrators/flaky_chain/{iid}", json=marker)
    settle(api, iid, "Completed")
    plain = api.get(f"/instances/{iid}", params={"showHistory": "true"}).json()["historyEvents"]
    kinds = [e["EventType"] for e in plain]
    assert kinds == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    completed = plain[1]
    assert completed["FunctionName"] == "step" and "ScheduledTime" in completed
    assert completed["Input"] is not None  # inputs shown by default (showInput)
    for event in plain:
        assert not {"TaskScheduledId", "Version", "EventId", "IsPlayed", "Result"} & set(event), event
    full = api.get(f"/instances/{iid}", params={"showHistory": "true", "showHistoryOutput": "true"}).json()
    assert full["historyEvents"][1]["Result"] == "A"
    no_input = api.get(f"/instances/{iid}", params={"showHistory": "true", "showInput": "false"}).json()
    assert all("Input" not in e for e in no_input["historyEvents"])


def test_history_keeps_a_task_scheduled_but_unfinished_and_merges_sub_orchestrations() -> None:
    def event(kind: EventType, event_id: int = -1, **fields: Any) -> str:
        return json.dumps({"EventType": int(kind), "EventId": event_id, "IsPlayed": True,
                           "Timestamp": "2024-01-01T00:00:00.000000Z", **fields})

    texts = [
        event(EventType.EXECUTION_STARTED, Name="o", Input="1", Version="", ParentInstance=None),
        event(EventType.ORCHESTRATOR_STARTED),
        event(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, 0, Name="child", InstanceId="c", Input="2", Version=""),
        event(EventType.TASK_SCHEDULED, 1, Name="slow", Input="3", Version=""),
        event(EventType.ORCHESTRATOR_COMPLETED),
        event(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, TaskScheduledId=0, Result='"ok"'),
    ]
    shown = history_events(texts, show_output=True)
    assert [e["EventType"] for e in shown] == ["ExecutionStarted", "TaskScheduled", "SubOrchestrationInstanceCompleted"]
    assert shown[1] == {"EventType": "TaskScheduled", "Timestamp": "2024-01-01T00:00:00.000000Z", "Name": "slow", "Input": "3"}
    assert shown[2]["FunctionName"] == "child" and shown[2]["Result"] == "ok" and shown[2]["Input"] == "2"
    assert "TaskScheduledId" not in shown[2]


# --- rewind (HAH HandleRewindInstanceRequestAsync, AzureTableTrackingStore.RewindHistoryAsync) -


def test_rewind_runs_only_the_failed_activity_again(api: httpx.Client, scratch: Path) -> None:
    marker = new_id("rewind")
    iid = new_id("flaky")
    api.post(f"/orchestrators/flaky_chain/{iid}", json=marker)
    settle(api, iid, "Failed")
    assert runs(scratch, marker) == ["a", "b"]
    (scratch / marker).touch()
    response = api.post(f"/instances/{iid}/rewind", params={"reason": "fixed"})
    assert response.status_code == 202
    assert settle(api, iid, "Completed", "Failed")["output"] == ["A", "B", "C"]
    assert runs(scratch, marker) == ["a", "b", "b", "c"]  # a is not run again


def test_rewind_reaches_into_a_failed_sub_orchestration(api: httpx.Client, scratch: Path) -> None:
    marker = new_id("rewsub")
    iid = new_id("parent")
    api.post(f"/orchestrators/flaky_parent/{iid}", json=marker)
    settle(api, iid, "Failed")
    (scratch / marker).touch()
    assert api.post(f"/instances/{iid}/rewind").status_code == 202
    assert settle(api, iid, "Completed", "Failed")["output"] == ["P", "A", "B", "C"]
    assert runs(scratch, marker) == ["p", "a", "b", "b", "c"]


def test_rewind_refusals(api: httpx.Client) -> None:
    assert api.post(f"/instances/{new_id('ghost')}/rewind").status_code == 404
    iid = new_id("live")
    api.post(f"/orchestrators/waits_for_go/{iid}")
    settle(api, iid, "Running")
    running = api.post(f"/instances/{iid}/rewind")
    assert running.status_code == 500
    assert running.json()["ExceptionMessage"] == "The rewind operation is only supported on failed orchestration instances."
    api.post(f"/instances/{iid}/terminate")
    settle(api, iid, "Terminated")
    assert api.post(f"/instances/{iid}/rewind").status_code == 410
