"""LaneClient against a real dev host process serving tests/apps/lane_basic."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from devhost import testing
from router.errors import BadRequest, LaneKeyRejected, NotFound
from router.lane_client import LaneClient, LaneClientOptions, LaneEndpoint, ProxiedResponse
from router.urls import RouterRoutes

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

APP_DIR = Path(__file__).resolve().parents[1] / "apps" / "lane_basic"
ROUTES = RouterRoutes("http://router.test:7071", "api", "1.0")
ROUTER_INSTANCES = "http://router.test:7071/api/instances/1.0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def lane_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # Keys enforced, as on a lane: the router reaches it with its system key.
    with testing.running_host(APP_DIR, data_dir=tmp_path_factory.mktemp("lane_basic"), enable_auth=True) as host:
        yield host


@pytest.fixture
def lane(lane_host: Any) -> LaneEndpoint:
    return LaneEndpoint(lane_host.base_url, lane_host.system_key)


@pytest.fixture
async def client() -> AsyncIterator[LaneClient]:
    async with LaneClient(LaneClientOptions(read_timeout=10.0, backoff_seconds=0.05)) as lane_client:
        yield lane_client


async def wait_for(
    client: LaneClient,
    lane: LaneEndpoint,
    instance_id: str,
    done: Callable[[dict[str, Any]], object],
    timeout: float = 30.0,
) -> ProxiedResponse:
    """Poll the instance through the lane edge until `done(status)`; fail with the last status."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.proxy(lane, "GET", instance_id, "status", routes=ROUTES)
        status = json.loads(response.body)
        if done(status):
            return response
        await asyncio.sleep(0.1)
    raise AssertionError(f"instance {instance_id} never reached the expected status; last: {status}")


def assert_no_lane_secrets(lane: LaneEndpoint, response: ProxiedResponse) -> None:
    everything = json.dumps(response.headers) + response.body.decode()
    assert lane.system_key not in everything
    assert lane.base_url.split("//")[1] not in everything


@pytest.mark.timeout(60)
async def test_an_instance_through_its_whole_life(lane: LaneEndpoint, client: LaneClient) -> None:
    instance_id = f"greet-{uuid.uuid4().hex}"
    body = json.dumps({"city": "Oslo", "wait_for_approval": True}).encode()
    started = await client.start_orchestration(lane, "greet", instance_id, body, "application/json")
    assert (started.instance_id, started.status) == (instance_id, 202)

    waiting = await wait_for(client, lane, instance_id, lambda s: s.get("customStatus"))
    assert waiting.status == 202
    assert waiting.headers["location"].startswith(f"{ROUTER_INSTANCES}/{instance_id}")
    assert_no_lane_secrets(lane, waiting)
    in_flight = await client.count_in_flight(lane)
    assert in_flight.running >= 1 and in_flight.oldest_created_time is not None

    raised = await client.proxy(
        lane, "POST", instance_id, "raiseEvent", "Approval", body=b"true", headers={"Content-Type": "application/json"}
    )
    assert raised.status == 202
    done = await wait_for(client, lane, instance_id, lambda s: s["runtimeStatus"] == "Completed")
    assert done.status == 200
    assert json.loads(done.body)["output"] == {"greeting": "Hello Oslo", "approved": True}
    assert_no_lane_secrets(lane, done)

    page, _ = await client.list_instances(lane, ["Completed"], 50, None, routes=ROUTES)
    assert instance_id in {item["instanceId"] for item in page}
    purged = await client.proxy(lane, "DELETE", instance_id, "purge")
    assert json.loads(purged.body) == {"instancesDeleted": 1}
    with pytest.raises(NotFound):
        await client.proxy(lane, "GET", instance_id, "status")


@pytest.mark.timeout(60)
async def test_a_started_instance_without_id_completes(lane: LaneEndpoint, client: LaneClient) -> None:
    started = await client.start_orchestration(lane, "greet", None, b'{"city": "Bergen"}')
    done = await wait_for(client, lane, started.instance_id, lambda s: s["runtimeStatus"] == "Completed")
    assert json.loads(done.body)["output"]["greeting"] == "Hello Bergen"


async def test_an_unknown_orchestrator_is_a_bad_request(lane: LaneEndpoint, client: LaneClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.start_orchestration(lane, "no_such_orchestrator", None, b"{}")
    text = json.dumps(caught.value.body())
    assert lane.system_key not in text and lane.base_url not in text


async def test_a_wrong_key_is_rejected(lane: LaneEndpoint, client: LaneClient) -> None:
    with pytest.raises(LaneKeyRejected) as caught:
        await client.count_in_flight(LaneEndpoint(lane.base_url, "not-the-key"))
    assert "not-the-key" not in json.dumps(caught.value.body())


async def test_one_client_serves_callers_on_other_event_loops(lane: LaneEndpoint) -> None:
    # A sync Functions activity may drive the shared client with asyncio.run, a new loop each
    # time; connections pooled by a loop that has ended must not be handed to the next one.
    shared = LaneClient(LaneClientOptions(attempts=1))

    def count_on_a_fresh_loop() -> int:
        return asyncio.run(shared.count_in_flight(lane)).total

    first = await anyio.to_thread.run_sync(count_on_a_fresh_loop)
    second = await anyio.to_thread.run_sync(count_on_a_fresh_loop)
    third = (await shared.count_in_flight(lane)).total
    await shared.aclose()
    assert min(first, second, third) >= 0
