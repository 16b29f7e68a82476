"""The router's orchestrations, every branch, in-process: lane_lifecycle, release, held_request
and map_command over the router's own function app, with a fake backend and fake lanes
(tests/router/router_harness.py). No lane process, no sleeps beyond the orchestrations' own
sub-second timers."""

from __future__ import annotations

import asyncio

import pytest

from provisioning.errors import AppNameTaken, PackageError, TransientProvisioningError
from tests.router.router_harness import DURABLE_API, Router, with_router

pytestmark = pytest.mark.timeout(60)


async def until_done(router: Router, release_id: str) -> dict:
    async def done():
        status = await router.release_status(release_id)
        return status if status["state"] not in ("running", "handed_to_lane") else None
    return await router.wait_for(f"release {release_id} to end", done)


# --- provisioning -------------------------------------------------------------------------------

@with_router()
async def test_an_eager_release_provisions_its_lane_and_reports_every_step(router):
    release_id = await router.release("1.0.0")
    status = await until_done(router, release_id)
    assert status["state"] == "completed"
    steps = [s["step"] for s in status["steps"]]
    assert steps == ["received", "registered", "handed_to_lane", "registered", "reserved", "app_created",
                     "configured", "deployed", "key_read", "healthy", "activated"]
    lane = await router.lane("1.0")
    assert lane["state"] == "active" and lane["current"] and lane["deployed_version"] == "1.0.0"


@with_router()
async def test_a_permanent_provider_error_is_not_retried_and_keeps_its_code(router):
    router.backend.fail["create_app"] = [AppNameTaken("the name lane-1.0 is taken", name="lane-1.0")]
    status = await until_done(router, await router.release("1.0.0"))
    assert status["state"] == "failed"
    assert status["error"]["error"] == "app_name_taken"
    assert router.backend.count("create_app") == 1
    lane = await router.wait_for_lane("1.0", "failed")
    assert lane["error"] == {"code": "app_name_taken", "message": "the name lane-1.0 is taken"}
    refused = await router.start("1.0.0")
    assert refused.status_code == 503
    assert refused.json()["error"] == "lane_failed" and refused.json()["cause"] == "app_name_taken"


@with_router()
async def test_a_transient_provider_error_is_retried(router):
    router.backend.fail["create_app"] = [TransientProvisioningError("throttled")]
    status = await until_done(router, await router.release("1.0.0"))
    assert status["state"] == "completed"
    assert router.backend.count("create_app") == 2


@with_router()
async def test_posting_the_same_release_again_retries_a_failed_lane(router):
    router.backend.fail["deploy_package"] = [PackageError("download failed: 503 from the blob store")]
    release_id = await router.release("1.0.0")
    assert (await until_done(router, release_id))["state"] == "failed"
    again = await router.http.post("/api/releases", json={"version": "1.0.0", "packageUrl": "/packages/1.0.0.zip"})
    assert again.status_code == 202 and again.json()["retry"] is True and again.json()["id"] == release_id
    assert (await until_done(router, release_id))["state"] == "completed"
    assert (await router.lane("1.0"))["state"] == "active"


@with_router(lane_ready_timeout_seconds=2.5)
async def test_a_lane_that_never_becomes_healthy_fails_at_the_ready_timeout_with_the_last_error(router):
    if True:
        router.backend.healthy, router.backend.health_detail = False, "functions failed to load"
        status = await until_done(router, await router.release("1.0.0"))
        assert status["state"] == "failed" and status["error"]["error"] == "lane_not_ready"
        lane = await router.lane("1.0")
        assert lane["error"]["code"] == "lane_not_ready"
        assert "functions failed to load" in lane["error"]["message"]
        assert router.backend.count("check_health") >= 2


@with_router(release_timeout_seconds=0.5, lane_ready_timeout_seconds=30)
async def test_the_release_timeout_fails_the_lane(router):
    if True:
        router.backend.healthy = False
        status = await until_done(router, await router.release("1.0.0"))
        assert status["state"] == "failed" and status["error"]["error"] == "release_timeout"
        assert (await router.lane("1.0"))["state"] == "failed"


@with_router()
async def test_a_lifecycle_whose_failure_cannot_be_recorded_lives_on(router):
    # A lifecycle for a lane the map does not know: reserving fails, and so does recording that.
    started = await router.http.post(f"{DURABLE_API}/orchestrators/lane_lifecycle/lane-lifecycle-9.9", json={
        "lane": "9.9", "phase": "provision", "release": {"version": "9.9.0", "package_url": "/p.zip"}})
    assert started.status_code == 202, started.text

    async def waiting():
        status = await router.lifecycle("9.9")
        return status if (status.get("customStatus") or {}).get("phase") == "failed" else None

    status = await router.wait_for("the lifecycle to wait as failed", waiting)
    assert status["runtimeStatus"] == "Running"
    steps = [s["step"] for s in status["customStatus"]["steps"]]
    assert steps[-2:] == ["failed", "could_not"]
