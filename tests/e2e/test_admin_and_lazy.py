"""Lazy lanes, release intake rules and the admin surface, through real HTTP.

Tests that only read share the module's router and its two serving lanes (`two_lanes`, released
once); a test that changes lanes for good (rollback, close, retire, a lazy lane) has a router
of its own.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from demo.router_client import RouterClient, wait_for
from samples.build import package_sha256
from tests.e2e.conftest import all_lane_secrets, release, start_ok

pytestmark = pytest.mark.e2e

ROUTER_SETTINGS = {"ROUTER_MAX_LANES": "2"}


@pytest.fixture(scope="module")
def two_lanes(router, packages) -> RouterClient:
    """Lanes 1.0 (superseded, draining) and 1.1 (current) on the module's router: the quota is full.

    An order that waits an hour holds lane 1.0, as an in-flight instance holds a draining lane:
    without it the idle lane would drain away within seconds.
    """
    release(router, "1.0.0", packages["1.0.0"])
    anchor = start_ok(router, "1.0.0", {"order_id": "holds-lane-1.0", "wait_seconds": 3600})
    wait_for(lambda: router.get(anchor["statusQueryGetUri"]).json()["runtimeStatus"] == "Running", 20,
             "the order holding lane 1.0 to run")
    release(router, "1.1.0", packages["1.1.0"])
    vmap = router.version_map()
    assert vmap["current"] == "1.1" and vmap["lanes"]["1.0"]["state"] == "draining" and vmap["quota"]["used"] == 2
    return router


def in_flight(router: RouterClient, lane: str) -> int:
    counts = router.admin_get("/api/status").json()["lanes"][lane]
    return counts["running"] + counts["pending"] + counts["suspended"]


def terminate(router: RouterClient, order: dict) -> None:
    key = {"x-functions-key": router.function_key}
    router.http.post(order["terminatePostUri"].replace("{text}", "test"), headers=key)
    wait_for(lambda: router.get(order["statusQueryGetUri"]).json()["runtimeStatus"] == "Terminated", 20, "terminate")


def test_a_lazy_release_creates_no_app_until_the_first_request(fresh_router, packages):
    router = fresh_router
    release_id = release(router, "1.0.0", packages["1.0.0"], "lazy")["id"]
    lane = router.version_map()["lanes"]["1.0"]
    assert lane["state"] == "provisioning" and lane["app_name"] is None and lane["started"] is False
    assert router.release_status(release_id)["state"] == "waiting_for_first_request", "no app exists yet"

    held = router.start("process_order", {"order_id": "lazy-1", "wait_seconds": 0}, version="1.0.0",
                        instance_id="lazy-order-1")
    assert held.status_code == 202
    body = held.json()
    assert body["held"] is True and body["lane"] == "1.0"
    assert body["statusQueryGetUri"].startswith(f"{router.base_url}/api/held/")
    forwarded = router.wait_held(body["statusQueryGetUri"])
    assert forwarded["state"] == "forwarded"
    assert forwarded["instanceId"] == "lazy-order-1", "the client's instance id is kept"
    status = router.wait_instance(forwarded["statusQueryGetUri"])
    assert status["output"]["app_version"] == "1.0.0"
    assert router.version_map()["lanes"]["1.0"]["state"] == "active"
    done = router.release_status(release_id)
    assert done["state"] == "completed"
    assert {"first_request", "app_created", "activated"} <= {s["step"] for s in done["steps"]}
    times = [datetime.fromisoformat(s["at"]) for s in done["steps"]]
    assert times == sorted(times), "the intake's and the lane's steps merged in time order"


def test_posting_the_same_release_again_is_a_no_op(fresh_router, packages):
    router, package = fresh_router, packages["1.1.0"]
    first = router.post_release("1.1.0", str(package), package_sha256(package))
    again = router.post_release("1.1.0", str(package), package_sha256(package))
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert first.json().get("duplicate") is not True and again.json()["duplicate"] is True
    assert router.wait_release(first.json()["id"])["state"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"version": "2.0.0", "packageUrl": "https://evil.example.com/app.zip"}, 422, "package_rejected"),
        ({"version": "2.0.0", "packageUrl": "http://builds.example.com/app.zip"}, 422, "package_rejected"),
        ({"version": "two", "packageUrl": "/tmp/app.zip"}, 400, "bad_version"),
        ({"version": "2.0.0"}, 400, "bad_request"),
        ({"version": "2.0.0", "packageUrl": "/tmp/app.zip", "sha256": "abc"}, 400, "bad_request"),
        ({"version": "2.0.0", "packageUrl": "/tmp/app.zip", "provision": "soon"}, 400, "bad_request"),
    ],
)
def test_release_intake_rejects_bad_releases_clearly(router, body, status, code):
    response = router.http.post("/api/releases", json=body, headers={"x-functions-key": router.release_key})
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


def test_a_release_for_a_new_lane_beyond_the_quota_is_409(two_lanes, packages):
    # A package that exists: intake refuses a missing local package (422) before the quota.
    body = {"version": "2.0.0", "packageUrl": str(packages["1.0.0"])}
    response = two_lanes.http.post("/api/releases", json=body, headers={"x-functions-key": two_lanes.release_key})
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "lane_quota_reached"
    assert "2.0" not in two_lanes.version_map()["lanes"]


def test_status_is_the_deployment_gate_for_every_lane(two_lanes):
    router = two_lanes
    # Other tests' short orders on 1.1 may still be finishing: wait until nothing is in flight there.
    wait_for(lambda: in_flight(router, "1.1") == 0, 30, "lane 1.1 to be idle")
    status = router.admin_get("/api/status").json()
    assert status["lanes"]["1.1"] == {"running": 0, "pending": 0, "suspended": 0, "state": "active"}
    assert status["hasRunning"] is True and status["lanes"]["1.0"]["state"] == "draining", "the order holding 1.0"
    before = in_flight(router, "1.0")
    order = start_ok(router, "1.0.0", {"order_id": "gate", "wait_seconds": 30})
    wait_for(lambda: in_flight(router, "1.0") == before + 1, 20, "the gate to count the new order")
    terminate(router, order)
    wait_for(lambda: in_flight(router, "1.0") == before, 20, "the gate to stop counting it")
    # A client's key is known but not an admin's (router/auth.py): 403.
    assert router.http.get("/api/status", headers={"x-functions-key": router.function_key}).status_code == 403


def test_instances_across_lanes_are_paged(two_lanes):
    router = two_lanes
    for n in range(3):
        router.wait_instance(start_ok(router, "1.1.0", {"order_id": f"page-{n}", "wait_seconds": 0})["statusQueryGetUri"])
    router.wait_instance(start_ok(router, "1.0.0", {"order_id": "page-old", "wait_seconds": 0})["statusQueryGetUri"])
    seen, token = [], None
    for _ in range(50):
        params = {"top": 2, **({"continuationToken": token} if token else {})}
        page = router.admin_get("/api/instances", **params).json()
        assert len(page["instances"]) <= 2
        seen.extend(page["instances"])
        token = page["continuationToken"]
        if not token:
            break
    assert not token, "the pages end"
    assert {i["lane"] for i in seen} == {"1.0", "1.1"}
    assert len({(i["lane"], i["instanceId"]) for i in seen}) == len(seen)
    text = json.dumps(seen)
    for secret in all_lane_secrets(router):
        assert secret not in text
    for lane in ("1.0", "1.1"):
        assert router.version_map()["lanes"][lane]["app_url"] not in text


def test_the_version_map_holds_no_secret(two_lanes):
    text = json.dumps(two_lanes.version_map())
    for secret in all_lane_secrets(two_lanes):
        assert secret not in text
    assert two_lanes.http.get("/api/versionmap", headers={"x-functions-key": two_lanes.function_key}).status_code == 403


def test_rollback_makes_the_old_lane_current(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    release(router, "1.1.0", packages["1.1.0"])
    response = router.admin_post("/api/current", {"lane": "1.0"})
    assert response.status_code == 200, response.text
    assert response.json()["current"] == "1.0"
    order = start_ok(router, None, {"order_id": "after-rollback", "wait_seconds": 0})
    assert order["lane"] == "1.0"
    vmap = router.version_map()
    assert vmap["lanes"]["1.0"]["state"] == "active" and vmap["lanes"]["1.1"]["state"] == "active"
    assert router.admin_post("/api/current", {"lane": "9.9"}).status_code == 404
    assert router.admin_post("/api/current", {"lane": "1.1"}).status_code == 200
    assert start_ok(router, None, {"order_id": "rolled-forward", "wait_seconds": 0})["lane"] == "1.1"


def test_the_current_lane_cannot_be_closed(two_lanes):
    assert two_lanes.admin_post("/api/lanes/1.1/close").status_code == 409
    assert two_lanes.version_map()["lanes"]["1.1"]["closed"] is False


def test_closing_a_lane_refuses_new_starts_with_410(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    release(router, "1.1.0", packages["1.1.0"])
    response = router.admin_post("/api/lanes/1.0/close")
    assert response.status_code == 200, response.text
    assert response.json()["closed"] is True
    wait_for(lambda: router.start("process_order", {}, version="1.0.0").status_code == 410, 10, "the cache to expire")
    body = router.start("process_order", {}, version="1.0.0").json()
    assert body["error"] == "lane_gone" and body["currentVersion"] == "1.1.0"


def test_the_current_lane_cannot_be_retired(two_lanes):
    assert two_lanes.admin_post("/api/lanes/1.1/retire", force="true").status_code == 409
    assert two_lanes.lane_state("1.1") == "active"


def test_forced_retire_deletes_the_lane(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    release(router, "1.1.0", packages["1.1.0"])
    order = start_ok(router, "1.0.0", {"order_id": "held-up", "wait_seconds": 60})
    wait_for(lambda: router.get(order["statusQueryGetUri"]).json()["runtimeStatus"] == "Running", 20,
             "the order to run on lane 1.0")
    response = router.admin_post("/api/lanes/1.0/retire", force="true")
    assert response.status_code == 202, response.text
    vmap = router.wait_lane_state("1.0", "deleted", deadline=60)
    assert any(e["event"] == "forced_retire" for e in vmap["lanes"]["1.0"]["history"])
    assert vmap["quota"]["used"] == 1


def test_a_deleted_lane_can_be_released_again(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    release(router, "1.1.0", packages["1.1.0"])
    assert router.admin_post("/api/lanes/1.0/retire", force="true").status_code == 202
    router.wait_lane_state("1.0", "deleted", deadline=60)
    before = len(router.version_map()["lanes"]["1.0"]["history"])

    # Lane 1.1 is newer and current, so the re-created 1.0 is superseded from the start: it serves
    # clients that name it, then drains away again. Its lifecycle singleton is started afresh.
    release(router, "1.0.5", packages["1.0.0"])
    vmap = router.wait_lane_state("1.0", "deleted", deadline=60)
    events = [e["event"] for e in vmap["lanes"]["1.0"]["history"][before:]]
    story = [e for e in events if e in ("registered", "activated", "superseded", "drained", "deleted")]
    assert story == ["registered", "activated", "superseded", "drained", "deleted"], events
    assert vmap["current"] == "1.1"
