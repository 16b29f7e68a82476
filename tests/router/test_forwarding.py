"""Starts with an instance id, under both answers a lane may give for an id that exists.

What the extension does with a start whose instance id exists (Azure/azure-functions-durable-extension):
`HttpApiHandler.cs` `HandleStartOrchestratorRequestAsync` calls `DurableClient.cs`
`StartNewAsync`, which passes `OverridableExistingInstanceStates.ToDedupeStatuses()`
(`OverridableStates.cs`) to `CreateOrchestrationInstanceAsync`. Under `NonRunningStates` (the
default, `Options/DurableTaskOptions.cs`) the dedupe statuses are Running, ContinuedAsNew,
Pending and Suspended: a finished instance is replaced by a new run and the start answers 202;
one in flight makes DurableTask.AzureStorage throw `OrchestrationAlreadyExistsException` ("An
Orchestration instance with the status Running already exists.", an InvalidOperationException),
which `HttpApiHandler.HandleRequestAsync`'s catch-all answers as 500 "Something went wrong while
processing your request". Under `AnyState` nothing is deduped: every start replaces. No start
ever answers 409. `FakeLanes` (tests/router/router_harness.py) answers that way.

So the router never relies on the lane to refuse an id: it reads the instance before starting
it, and again before repeating a start whose answer was lost.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx
import pytest

from router.lane_client import InstanceExists, LaneClient, LaneClientOptions, LaneEndpoint
from tests.router.router_harness import (
    ANY_STATE,
    DURABLE_API,
    NON_RUNNING_STATES,
    FakeLane,
    FakeLanes,
    Router,
    running_router,
    url_of,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.anyio]

BOTH_SETTINGS = [NON_RUNNING_STATES, ANY_STATE]
URL = url_of("1.0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def no_wait(seconds: float) -> None:
    pass


def lane_client(lanes: FakeLanes, handler: Callable[[httpx.Request], httpx.Response] | None = None) -> LaneClient:
    return LaneClient(LaneClientOptions(), transport=httpx.MockTransport(handler or lanes.handler), sleep=no_wait)


def fake_lane(states: str, **lane: Any) -> tuple[FakeLanes, FakeLane, LaneEndpoint]:
    lanes = FakeLanes(states)
    fake = lanes.by_url[URL] = FakeLane(**lane)
    return lanes, fake, LaneEndpoint(URL, fake.key)


# --- the fake lane answers as the extension does ---------------------------------------------

@pytest.mark.parametrize("states", BOTH_SETTINGS)
async def test_the_fake_lane_replaces_a_finished_instance_as_the_extension_does(states: str) -> None:
    lanes, fake, _ = fake_lane(states, finish_at_once=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lanes.handler), base_url=URL) as http:
        for _ in range(2):
            answer = await http.post(f"{DURABLE_API}/orchestrators/process_order/order-1",
                                     headers={"x-functions-key": fake.key}, json={})
            assert answer.status_code == 202
    assert lanes.runs_of("order-1") == 2  # what a blind retry would do: the order runs twice


async def test_the_fake_lane_refuses_an_instance_in_flight_with_a_500_under_non_running_states() -> None:
    lanes, fake, _ = fake_lane(NON_RUNNING_STATES)
    fake.start("process_order", "order-1")
    async with httpx.AsyncClient(transport=httpx.MockTransport(lanes.handler), base_url=URL) as http:
        answer = await http.post(f"{DURABLE_API}/orchestrators/process_order/order-1",
                                 headers={"x-functions-key": fake.key}, json={})
    assert answer.status_code == 500
    assert answer.json()["ExceptionType"] == "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"


# --- the lane client ------------------------------------------------------------------------------

@pytest.mark.parametrize("states", BOTH_SETTINGS)
@pytest.mark.parametrize("runtime_status", ["Running", "Completed", "Failed", "Terminated"])
async def test_a_start_with_an_id_that_exists_starts_nothing(states: str, runtime_status: str) -> None:
    lanes, fake, endpoint = fake_lane(states)
    fake.start("process_order", "order-1")
    fake.instances["order-1"]["runtimeStatus"] = runtime_status
    with pytest.raises(InstanceExists) as caught:
        await lane_client(lanes).start_orchestration(endpoint, "process_order", "order-1", b"{}")
    assert caught.value.status == 409
    assert caught.value.body() | {"message": ""} == {
        "error": "instance_exists", "message": "", "id": "order-1", "runtimeStatus": runtime_status}
    assert lanes.starts == []
    assert fake.instances["order-1"]["runtimeStatus"] == runtime_status


@pytest.mark.parametrize("states", BOTH_SETTINGS)
@pytest.mark.parametrize("finished", [False, True], ids=["running", "finished"])
async def test_a_start_whose_answer_was_lost_is_read_back_not_sent_again(states: str, finished: bool) -> None:
    lanes, fake, endpoint = fake_lane(states, finish_at_once=finished, lost_answers={"order-1": 1})
    started = await lane_client(lanes).start_orchestration(endpoint, "process_order", "order-1", b"{}")
    assert (started.instance_id, started.status) == ("order-1", 202)
    assert lanes.runs_of("order-1") == 1


@pytest.mark.parametrize("states", BOTH_SETTINGS)
@pytest.mark.parametrize("gateway", [502, 503, 504])
async def test_a_start_lost_behind_a_gateway_is_read_back_not_sent_again(states: str, gateway: int) -> None:
    lanes, fake, endpoint = fake_lane(states, finish_at_once=True)
    posts = 0

    def gateway_after_the_lane(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        answer = lanes.handler(request)
        if request.method == "POST":
            posts += 1
            return httpx.Response(gateway) if posts == 1 else answer
        return answer

    started = await lane_client(lanes, gateway_after_the_lane).start_orchestration(
        endpoint, "process_order", "order-1", b"{}")
    assert started.instance_id == "order-1"
    assert (posts, lanes.runs_of("order-1")) == (1, 1)


@pytest.mark.parametrize("states", BOTH_SETTINGS)
async def test_a_start_that_did_not_reach_the_lane_is_sent_again(states: str) -> None:
    lanes, fake, endpoint = fake_lane(states)
    posts = 0

    def gateway_before_the_lane(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            if posts == 1:
                return httpx.Response(502)
        return lanes.handler(request)

    started = await lane_client(lanes, gateway_before_the_lane).start_orchestration(
        endpoint, "process_order", "order-1", b"{}")
    assert started.instance_id == "order-1"
    assert (posts, lanes.runs_of("order-1")) == (2, 1)


async def test_a_start_raced_by_another_for_the_same_id_is_instance_exists() -> None:
    # Absent when read, in flight by the time the start arrives: someone else's start won.
    lanes, fake, endpoint = fake_lane(NON_RUNNING_STATES)

    def racing(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "order-1" not in fake.instances:
            fake.start("process_order", "order-1")
        return lanes.handler(request)

    with pytest.raises(InstanceExists):
        await lane_client(lanes, racing).start_orchestration(endpoint, "process_order", "order-1", b"{}")
    assert lanes.starts == []  # the racer's start went straight into the fake, not through a POST


async def test_a_refused_key_is_not_taken_for_a_lost_start() -> None:
    lanes, fake, _ = fake_lane(NON_RUNNING_STATES)
    with pytest.raises(Exception) as caught:
        await lane_client(lanes).start_orchestration(LaneEndpoint(URL, "stale"), "process_order", "order-1", b"{}")
    assert getattr(caught.value, "code", None) == "lane_key_rejected"
    assert lanes.starts == []


# --- the router: held and direct starts, in-process -----------------------------------------------

def run(tmp_path: Path, states: str, scenario: Callable[[Router], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running_router(tmp_path) as router:
            router.lanes.existing_instance_states = states
            await scenario(router)

    asyncio.run(main())


async def until_done(router: Router, release_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        status = await router.release_status(release_id)
        return status if status["state"] not in ("running", "handed_to_lane") else None
    return dict(await router.wait_for(f"release {release_id} to end", done))


async def held_outcome(router: Router, held_url: str) -> httpx.Response:
    async def ended() -> httpx.Response | None:
        response = await router.http.get(held_url)
        return response if response.status_code != 202 else None
    return await router.wait_for(f"{held_url} to end", ended)  # type: ignore[no-any-return]


async def held_start(router: Router, fake: FakeLane, instance_id: str) -> httpx.Response:
    """A start held for lazy lane 1.0, whose lane app will be `fake`; its outcome."""
    router.lanes.by_url[URL] = fake  # the backend's create_app keeps a lane that is already there
    await until_done(router, await router.release("1.0.0", provision="lazy"))
    held = await router.start("1.0.0", {"order": instance_id}, instance_id=instance_id)
    assert held.status_code == 202 and held.json()["held"] is True, held.text
    return await held_outcome(router, held.json()["statusQueryGetUri"])


@pytest.mark.parametrize("states", BOTH_SETTINGS)
@pytest.mark.parametrize("finished", [False, True], ids=["running", "finished"])
def test_a_held_start_whose_answer_was_lost_ends_forwarded_and_runs_once(
    tmp_path: Path, states: str, finished: bool
) -> None:
    async def scenario(router: Router) -> None:
        fake = FakeLane(finish_at_once=finished, lost_answers={"order-h1": 1})
        outcome = await held_start(router, fake, "order-h1")
        assert outcome.status_code == 200, outcome.text
        assert (outcome.json()["state"], outcome.json()["instanceId"]) == ("forwarded", "order-h1")
        assert router.lanes.runs_of("order-h1") == 1

    run(tmp_path, states, scenario)


@pytest.mark.parametrize("states", BOTH_SETTINGS)
@pytest.mark.parametrize("finished", [False, True], ids=["running", "finished"])
def test_a_held_forward_retried_after_the_lane_started_it_ends_forwarded_and_runs_once(
    tmp_path: Path, states: str, finished: bool
) -> None:
    """The forward activity fails after its start reached the lane (the start's answer and the
    three reads that follow it are lost), so the held request runs it again: the new run finds
    the instance, running or finished, and forwards to it instead of starting it again."""

    async def scenario(router: Router) -> None:
        fake = FakeLane(finish_at_once=finished, lost_answers={"order-h2": 4})
        outcome = await held_start(router, fake, "order-h2")
        assert outcome.status_code == 200, outcome.text
        assert (outcome.json()["state"], outcome.json()["instanceId"]) == ("forwarded", "order-h2")
        assert fake.lost_answers["order-h2"] == 0  # the first forward did fail
        assert router.lanes.runs_of("order-h2") == 1

    run(tmp_path, states, scenario)


@pytest.mark.parametrize("states", BOTH_SETTINGS)
@pytest.mark.parametrize("finished", [False, True], ids=["running", "finished"])
def test_a_direct_start_with_an_existing_id_is_409_and_does_not_run_it_again(
    tmp_path: Path, states: str, finished: bool
) -> None:
    async def scenario(router: Router) -> None:
        await until_done(router, await router.release("1.0.0"))
        first = await router.start("1.0.0", {"order": 1}, instance_id="order-d1")
        assert first.status_code == 202, first.text
        if finished:
            router.backend.lane("1.0").finish_all()
        again = await router.start("1.0.0", {"order": 1}, instance_id="order-d1")
        assert again.status_code == 409, again.text
        body = again.json()
        assert (body["error"], body["id"], body["lane"]) == ("instance_exists", "order-d1", "1.0")
        assert body["runtimeStatus"] == ("Completed" if finished else "Running")
        assert "order-d1" in body["message"] and router.backend.lane("1.0").key not in again.text
        assert router.lanes.runs_of("order-d1") == 1
        status = await router.http.get("/api/instances/1.0/order-d1")
        assert status.json()["runtimeStatus"] == ("Completed" if finished else "Running")

    run(tmp_path, states, scenario)


@pytest.mark.parametrize("states", BOTH_SETTINGS)
def test_a_direct_start_whose_answer_was_lost_is_202_and_runs_once(tmp_path: Path, states: str) -> None:
    async def scenario(router: Router) -> None:
        await until_done(router, await router.release("1.0.0"))
        fake = router.backend.lane("1.0")
        fake.finish_at_once, fake.lost_answers = True, {"order-d2": 1}
        started = await router.start("1.0.0", {"order": 2}, instance_id="order-d2")
        assert started.status_code == 202, started.text
        assert started.json()["id"] == "order-d2"
        assert router.lanes.runs_of("order-d2") == 1

    run(tmp_path, states, scenario)
