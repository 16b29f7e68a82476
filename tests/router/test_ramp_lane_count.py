"""The lane client's count for a ramp's step check, at the httpx seam: every page of the lane's
instances created since the ramp began, Failed ones counted apart, entities left out."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from router.errors import LaneUnreachable
from router.lane_client import LaneClient, StartedSince
from router.lane_types import LaneClientOptions, LaneEndpoint

KEY = "lane-system-key"
LANE = LaneEndpoint("https://lane-1-1.example.net", KEY)
SINCE = "2026-01-01T00:00:00+00:00"
ENTITY = "@shipped_orders@all"


def instance(instance_id: str, status: str) -> dict[str, str]:
    return {"name": "process_order", "instanceId": instance_id, "runtimeStatus": status,
            "createdTime": "2026-01-01T00:05:00+00:00"}


# Two pages, as the extension pages them: the x-ms-continuation-token header on every page, "null"
# on the last (Azure/azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs).
PAGES = {
    None: ([instance("a", "Completed"), instance("b", "Failed"), {**instance(ENTITY, "Running"), "name": "shipped_orders"}],
           "page-2"),
    "page-2": ([instance("c", "Running"), instance("d", "Failed"), instance("e", "Terminated")], "null"),
}


def lane(request: httpx.Request) -> httpx.Response:
    assert request.headers["x-functions-key"] == KEY
    if request.url.path.endswith("/entities/shipped_orders/all"):
        return httpx.Response(200, json={"count": 1})
    assert request.url.path == "/runtime/webhooks/durabletask/instances"
    # createdTimeFrom: instances created at or after it (MicrosoftDocs/azure-docs
    # articles/azure-functions/durable/durable-functions-http-api.md, "Get all instances status").
    assert request.url.params["createdTimeFrom"] == SINCE
    assert "runtimeStatus" not in request.url.params, "every status counts, terminal or not"
    page, token = PAGES[request.headers.get("x-ms-continuation-token")]
    return httpx.Response(200, json=page, headers={"x-ms-continuation-token": token})


def count(handler) -> StartedSince:
    async def main() -> StartedSince:
        async with LaneClient(LaneClientOptions(), transport=httpx.MockTransport(handler)) as client:
            return await client.count_started_since(LANE, SINCE)
    return asyncio.run(main())


def test_every_page_is_counted_failed_apart_and_entities_left_out():
    assert count(lane) == StartedSince(started=5, failed=2)


def test_a_lane_whose_pages_never_end_is_unreachable_rather_than_counted_forever():
    def looping(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[instance("a", "Failed")], headers={"x-ms-continuation-token": "again"})

    with pytest.raises(LaneUnreachable):
        count(looping)
