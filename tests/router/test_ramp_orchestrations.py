"""Progressive ramps through the router's own orchestrations, in-process (router_harness): a
release with a ramp, an admin's ramp, the driver's step checks against a lane's Durable HTTP API
(faked at the httpx seam), completion, rollback, and the split of real starts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.ramp import sticky_bucket
from tests.router.router_harness import (
    DURABLE_API,
    FakeLanes,
    Router,
    running_router,
    url_of,
    with_router,
)

pytestmark = pytest.mark.timeout(90)


class LanesWithCreatedTime(FakeLanes):
    """Lanes whose instance query honours `createdTimeFrom` as the extension does: only instances
    created at or after it (MicrosoftDocs/azure-docs articles/azure-functions/durable/
    durable-functions-http-api.md, "Get all instances status"; Azure/azure-functions-durable-extension
    src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs reads it into the query's CreatedTimeFrom)."""

    def _answer(self, base: str, lane: Any, request: httpx.Request) -> httpx.Response:
        response = super()._answer(base, lane, request)
        created_from = request.url.params.get("createdTimeFrom")
        if request.method != "GET" or request.url.path != f"{DURABLE_API}/instances" or not created_from \
                or response.status_code != 200:
            return response
        since = datetime.fromisoformat(created_from)
        page = [i for i in response.json() if datetime.fromisoformat(i["createdTime"]) >= since]
        return httpx.Response(200, json=page)


def with_ramp_router(scenario: Any) -> Any:
    """`with_router`, with fresh `LanesWithCreatedTime` for each delivery mode."""

    @pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
    def test(tmp_path: Path, delivery: str) -> None:
        async def main() -> None:
            async with running_router(tmp_path, at_least_once=delivery == "at_least_once",
                                      lanes=LanesWithCreatedTime()) as router:
                await scenario(router)

        asyncio.run(main())

    test.__name__, test.__doc__ = scenario.__name__, scenario.__doc__
    return test


def ramp_body(steps: list[int], seconds: int, ratio: float) -> dict[str, Any]:
    return {"steps": steps, "stepSeconds": seconds, "maxFailedRatio": ratio}


async def release(router: Router, version: str, ramp: dict[str, Any] | None = None) -> None:
    body: dict[str, Any] = {"version": version, "packageUrl": f"/packages/{version}.zip"}
    if ramp is not None:
        body["ramp"] = ramp
    response = await router.http.post("/api/releases", json=body)
    assert response.status_code == 202, response.text
    await router.wait_for_lane(version.rsplit(".", 1)[0], "active")


async def ramp_state(router: Router, state: str, timeout: float = 30.0) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        vmap = await router.version_map()
        return vmap if vmap["ramp"] and vmap["ramp"]["state"] == state else None
    return await router.wait_for(f"the ramp to be {state}", ended, timeout)


@with_ramp_router
async def test_a_release_with_a_ramp_advances_and_only_then_the_old_lane_drains(router):
    await release(router, "1.0.0")
    await release(router, "1.1.0", ramp_body([50, 100], 1, 0.5))
    vmap = await router.version_map()
    assert vmap["current"] == "1.0", "the ramp lane is not current before the ramp completes"
    assert vmap["lanes"]["1.0"]["state"] == "active"
    assert vmap["ramp"]["lane"] == "1.1" and vmap["ramp"]["fromLane"] == "1.0"
    assert vmap["ramp"]["state"] == "running"
    router.lanes.by_url[url_of("1.1")].start("process_order", "ok-1")  # one start, completed below
    router.lanes.by_url[url_of("1.1")].finish_all()

    vmap = await ramp_state(router, "completed")
    assert vmap["current"] == "1.1"
    assert [c["share"] for c in vmap["ramp"]["checks"]] == [50, 100]
    assert all(c["failed"] == 0 and c["started"] == 1 for c in vmap["ramp"]["checks"])
    await router.wait_for_lane("1.0", "draining")


@with_ramp_router
async def test_a_ramp_onto_a_lane_whose_orchestrations_fail_aborts_and_the_previous_lane_stays_current(router):
    await release(router, "1.0.0")
    await release(router, "1.1.0", ramp_body([10, 100], 1, 0.2))
    lane = router.lanes.by_url[url_of("1.1")]
    for n in range(4):
        named = await router.start("1.1.0", instance_id=f"named-{n}")
        assert named.status_code == 202, named.text
    lane.instances["named-0"]["runtimeStatus"] = "Failed"
    lane.instances["named-1"]["runtimeStatus"] = "Failed"
    lane.entities.add("@shipped_orders@all")  # an entity is no start: not counted

    vmap = await ramp_state(router, "aborted")
    assert vmap["current"] == "1.0"
    assert vmap["lanes"]["1.0"]["state"] == "active" and vmap["lanes"]["1.1"]["state"] == "active"
    check = vmap["ramp"]["checks"][-1]
    assert (check["started"], check["failed"], check["ratio"]) == (4, 2, 0.5)
    assert "2 of 4" in vmap["ramp"]["reason"]
    after = await router.start(None, instance_id="after-abort")
    assert after.status_code == 202 and after.json()["lane"] == "1.0"


@with_ramp_router
async def test_an_admin_ramp_splits_version_less_starts_sticky_by_instance_id(router):
    await release(router, "1.0.0")
    await release(router, "1.1.0")
    rolled_back = await router.http.post("/api/current", json={"lane": "1.0"})
    assert rolled_back.status_code == 200, rolled_back.text

    response = await router.http.post("/api/current", json={"lane": "1.1", "ramp": ramp_body([50, 100], 600, 0.1)})
    assert response.status_code == 202, response.text
    assert response.json()["current"] == "1.0"
    assert response.json()["ramp"]["share"] == 50 and response.json()["ramp"]["state"] == "running"
    again = await router.http.post("/api/current", json={"lane": "1.1", "ramp": ramp_body([50, 100], 600, 0.1)})
    assert again.status_code == 202 and again.json()["ramp"]["startedAt"] == response.json()["ramp"]["startedAt"]

    for n in range(12):
        instance_id = f"order-{n}"
        expected = "1.1" if sticky_bucket(instance_id) < 50 else "1.0"
        started = await router.start(None, instance_id=instance_id)
        assert started.status_code == 202, started.text
        assert started.json()["lane"] == expected, instance_id
        named = await router.start("1.0.0", instance_id=f"named-{n}")
        assert named.json()["lane"] == "1.0", "a start that names a version is never ramped"
    lanes_taken = {(await router.start(None)).json()["lane"] for _ in range(40)}
    assert lanes_taken == {"1.0", "1.1"}, "without an instance id, the draw splits them"

    # Making the current lane current again is how an admin stops a ramp.
    stopped = await router.http.post("/api/current", json={"lane": "1.0"})
    assert stopped.status_code == 200
    vmap = await router.version_map()
    assert vmap["ramp"]["state"] == "aborted" and vmap["current"] == "1.0"


@with_router()
async def test_a_bad_ramp_is_refused_before_anything_changes(router):
    await release(router, "1.0.0")
    refused = await router.http.post("/api/current", json={"lane": "1.0", "ramp": ramp_body([50, 90], 60, 0.1)})
    assert refused.status_code == 400 and refused.json()["field"] == "ramp.steps"
    current = await router.http.post("/api/current", json={"lane": "1.0", "ramp": ramp_body([50, 100], 60, 0.1)})
    assert current.status_code == 409, "the current lane cannot ramp onto itself"
    bad_release = await router.http.post("/api/releases", json={
        "version": "1.1.0", "packageUrl": "/packages/1.1.0.zip", "ramp": ramp_body([5, 100], 0, 0.1)})
    assert bad_release.status_code == 400 and bad_release.json()["field"] == "ramp.stepSeconds"
    lazy = await router.http.post("/api/releases", json={
        "version": "1.1.0", "packageUrl": "/packages/1.1.0.zip", "provision": "lazy",
        "ramp": ramp_body([5, 100], 60, 0.1)})
    assert lazy.status_code == 400 and lazy.json()["field"] == "ramp"
    assert "1.1" not in (await router.version_map())["lanes"]
