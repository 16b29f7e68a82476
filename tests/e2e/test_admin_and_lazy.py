"""Lazy lanes, release intake rules and the admin surface, through real HTTP."""

from __future__ import annotations

import json

import pytest

from demo.router_client import wait_for
from samples.build import build_package, package_sha256
from tests.e2e.conftest import lane_secrets, start_ok

pytestmark = pytest.mark.e2e

ROUTER_SETTINGS = {"ROUTER_MAX_LANES": "2"}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = tmp_path_factory.mktemp("packages")
    return {v: build_package(v, out) for v in ("1.0.0", "1.1.0")}


def test_a_lazy_release_creates_no_app_until_the_first_request(router, packages):
    response = router.post_release("1.0.0", str(packages["1.0.0"]), package_sha256(packages["1.0.0"]), "lazy")
    assert response.status_code == 202
    status = router.wait_release(response.json()["id"])
    assert status["state"] == "waiting_for_first_request"
    lane = router.version_map()["lanes"]["1.0"]
    assert lane["state"] == "provisioning" and lane["app_name"] is None and lane["started"] is False

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


def test_posting_the_same_release_again_is_a_no_op(router, packages):
    package = packages["1.1.0"]
    first = router.post_release("1.1.0", str(package), package_sha256(package))
    again = router.post_release("1.1.0", str(package), package_sha256(package))
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["duplicate"] is True
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
        ({"version": "2.0.0", "packageUrl": "/tmp/app.zip"}, 409, "lane_quota_reached"),
    ],
)
def test_release_intake_rejects_bad_releases_clearly(router, body, status, code):
    response = router.http.post("/api/releases", json=body, headers={"x-functions-key": router.function_key})
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


def test_status_is_the_deployment_gate_for_every_lane(router):
    order = start_ok(router, "1.0.0", {"order_id": "gate", "wait_seconds": 30})
    status = router.admin_get("/api/status").json()
    assert status["hasRunning"] is True
    assert status["lanes"]["1.0"]["running"] + status["lanes"]["1.0"]["pending"] >= 1
    assert status["lanes"]["1.1"] == {"running": 0, "pending": 0, "suspended": 0, "state": "active"}
    assert router.http.get("/api/status", headers={"x-functions-key": router.function_key}).status_code == 401
    router.http.post(order["terminatePostUri"].replace("{text}", "test"), headers={"x-functions-key": router.function_key})
    wait_for(lambda: router.get(order["statusQueryGetUri"]).json()["runtimeStatus"] == "Terminated", 20, "terminate")


def test_instances_across_lanes_are_paged(router):
    for n in range(3):
        start_ok(router, "1.1.0", {"order_id": f"page-{n}", "wait_seconds": 0})
    seen, token = [], None
    for _ in range(20):
        params = {"top": 2, **({"continuationToken": token} if token else {})}
        page = router.admin_get("/api/instances", **params).json()
        assert len(page["instances"]) <= 2
        seen.extend(page["instances"])
        token = page["continuationToken"]
        if not token:
            break
    lanes = {i["lane"] for i in seen}
    assert lanes == {"1.0", "1.1"}
    assert len({(i["lane"], i["instanceId"]) for i in seen}) == len(seen)
    text = json.dumps(seen)
    for lane in ("1.0", "1.1"):
        assert lane_secrets(router, lane) not in text
        assert router.version_map()["lanes"][lane]["app_url"] not in text


def test_instances_are_managed_through_the_router(router):
    order = start_ok(router, "1.0.0", {"order_id": "managed", "wait_seconds": 60})
    key = {"x-functions-key": router.function_key}
    status_url = order["statusQueryGetUri"]

    def runtime_status() -> str:
        return router.get(status_url).json()["runtimeStatus"]

    assert router.http.post(order["suspendPostUri"].replace("{text}", "pause"), headers=key).status_code == 202
    wait_for(lambda: runtime_status() == "Suspended", 20, "suspend")
    assert router.http.post(order["resumePostUri"].replace("{text}", "go"), headers=key).status_code == 202
    wait_for(lambda: runtime_status() == "Running", 20, "resume")
    event = router.http.post(order["sendEventPostUri"].replace("{eventName}", "nudge"), json={"n": 1}, headers=key)
    assert event.status_code == 202
    assert router.http.post(order["terminatePostUri"].replace("{text}", "done"), headers=key).status_code == 202
    wait_for(lambda: runtime_status() == "Terminated", 20, "terminate")
    assert router.http.delete(order["purgeHistoryDeleteUri"], headers=key).status_code == 200
    gone = router.get(status_url)
    assert gone.status_code == 404 and lane_secrets(router, "1.0") not in gone.text
    bad = router.http.post(f"{status_url}/explode", headers=key)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    unknown_lane = router.get(status_url.replace("/instances/1.0/", "/instances/4.2/"))
    assert unknown_lane.status_code == 404 and unknown_lane.json()["error"] == "unknown_lane"


def test_rollback_makes_the_old_lane_current(router):
    assert router.version_map()["current"] == "1.1"
    response = router.admin_post("/api/current", {"lane": "1.0"})
    assert response.status_code == 200, response.text
    assert response.json()["current"] == "1.0"
    order = start_ok(router, None, {"order_id": "after-rollback", "wait_seconds": 0})
    assert order["lane"] == "1.0"
    vmap = router.version_map()
    assert vmap["lanes"]["1.0"]["state"] == "active" and vmap["lanes"]["1.1"]["state"] == "active"
    assert router.admin_post("/api/current", {"lane": "9.9"}).status_code == 404
    assert router.admin_post("/api/current", {"lane": "1.1"}).status_code == 200


def test_closing_a_lane_refuses_new_starts_with_410(router):
    assert router.admin_post("/api/lanes/1.1/close").status_code == 409, "the current lane cannot be closed"
    response = router.admin_post("/api/lanes/1.0/close")
    assert response.status_code == 200, response.text
    assert response.json()["closed"] is True
    wait_for(lambda: router.start("process_order", {}, version="1.0.0").status_code == 410, 10, "the cache to expire")
    body = router.start("process_order", {}, version="1.0.0").json()
    assert body["error"] == "lane_gone" and body["currentVersion"] == "1.1.0"


def test_forced_retire_deletes_the_lane(router):
    order = start_ok(router, "1.1.0", {"order_id": "x", "wait_seconds": 0})
    router.wait_instance(order["statusQueryGetUri"])
    assert router.admin_post("/api/lanes/1.1/retire", force="true").status_code == 409, "current lane"
    response = router.admin_post("/api/lanes/1.0/retire", force="true")
    assert response.status_code == 202, response.text
    vmap = router.wait_lane_state("1.0", "deleted", deadline=60)
    assert any(e["event"] == "forced_retire" for e in vmap["lanes"]["1.0"]["history"])
    assert vmap["quota"]["used"] == 1


def test_the_version_map_holds_no_secret(router):
    vmap = router.version_map()
    text = json.dumps(vmap)
    assert lane_secrets(router, "1.1") not in text
    assert "secret" not in text.lower()
    assert router.http.get("/api/versionmap", headers={"x-functions-key": router.function_key}).status_code == 401



def test_a_deleted_lane_can_be_released_again(router, packages):
    # Lane 1.1 is newer and current, so the re-created 1.0 is superseded from the start: it serves
    # clients that name it, then drains away again. Its lifecycle singleton is started afresh.
    response = router.post_release("1.0.5", str(packages["1.0.0"]))
    assert response.status_code == 202, response.text
    assert router.wait_release(response.json()["id"])["state"] == "completed"
    lane = router.version_map()["lanes"]["1.0"]
    assert lane["state"] in ("draining", "retiring", "deleted")
    assert [e["event"] for e in lane["history"]].count("registered") == 2
    router.wait_lane_state("1.0", "deleted", deadline=60)
    assert router.version_map()["current"] == "1.1"
