"""The seed scenario, step by step, through real HTTP: the router in the dev host, lanes from
the local provisioner. The steps share one router and run in file order, like the demo.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from demo.router_client import RouterClient, wait_for
from samples.build import build_package, package_sha256
from tests.e2e.conftest import lane_secrets, start_ok

pytestmark = pytest.mark.e2e

SCENARIO: dict[str, Any] = {}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = tmp_path_factory.mktemp("packages")
    return {v: build_package(v, out) for v in ("1.0.0", "1.0.1", "1.1.0")}


def post(router: RouterClient, version: str, package, provision: str | None = None) -> dict[str, Any]:
    response = router.post_release(version, str(package), package_sha256(package), provision)
    assert response.status_code == 202, response.text
    return router.wait_release(response.json()["id"])


def test_release_1_0_0_creates_lane_1_0(router, packages):
    status = post(router, "1.0.0", packages["1.0.0"])
    assert status["state"] == "completed", status
    steps = [s["step"] for s in status["steps"]]
    for step in ("registered", "reserved", "app_created", "configured", "deployed", "key_read", "healthy", "activated"):
        assert step in steps
    vmap = router.version_map()
    assert vmap["current"] == "1.0"
    assert vmap["lanes"]["1.0"]["state"] == "active"
    assert vmap["lanes"]["1.0"]["deployed_version"] == "1.0.0"


def test_versions_of_one_lane_reach_the_same_app(router):
    long_order = start_ok(router, "1.0.0", {"order_id": "A", "wait_seconds": 12})
    short_order = start_ok(router, "1.0.9", {"order_id": "B", "wait_seconds": 0})
    assert long_order["lane"] == short_order["lane"] == "1.0"
    output = router.wait_instance(short_order["statusQueryGetUri"])["output"]
    assert output["app_version"] == "1.0.0"
    SCENARIO["long_order"] = long_order


def test_management_urls_point_at_the_router_only(router):
    order = SCENARIO["long_order"]
    key = lane_secrets(router, "1.0")
    lane_url = router.version_map()["lanes"]["1.0"]["app_url"]
    text = json.dumps(order)
    assert key not in text and lane_url not in text
    for name in ("statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"):
        assert order[name].startswith(f"{router.base_url}/api/instances/1.0/{order['id']}")
    status = router.get(order["statusQueryGetUri"])
    assert status.status_code == 202
    assert key not in status.text and lane_url not in status.text
    assert status.json()["runtimeStatus"] == "Running"


def test_patch_1_0_1_is_deployed_in_place(router, packages):
    app_before = router.version_map()["lanes"]["1.0"]["app_name"]
    status = post(router, "1.0.1", packages["1.0.1"])
    assert status["state"] == "completed", status
    vmap = router.version_map()
    assert list(vmap["lanes"]) == ["1.0"], "a patch never creates a lane"
    assert vmap["lanes"]["1.0"]["deployed_version"] == "1.0.1"
    assert vmap["lanes"]["1.0"]["app_name"] == app_before
    # The instance that was waiting on its timer keeps running on the patched app.
    assert router.get(SCENARIO["long_order"]["statusQueryGetUri"]).json()["runtimeStatus"] == "Running"


def test_a_release_not_newer_than_the_lane_is_409(router, packages):
    response = router.post_release("1.0.1", str(packages["1.0.0"]))
    assert response.status_code == 409
    assert response.json()["error"] == "version_not_newer"


def test_release_1_1_0_gets_a_new_app_and_task_hub(router, packages):
    status = post(router, "1.1.0", packages["1.1.0"])
    assert status["state"] == "completed", status
    vmap = router.version_map()
    assert vmap["current"] == "1.1"
    assert vmap["lanes"]["1.1"]["app_name"] != vmap["lanes"]["1.0"]["app_name"]
    assert vmap["lanes"]["1.0"]["state"] == "draining"
    assert lane_secrets(router, "1.1") != lane_secrets(router, "1.0")


def test_new_requests_follow_their_version(router):
    on_new = start_ok(router, "1.1.4", {"order_id": "C", "wait_seconds": 0})
    no_header = start_ok(router, None, {"order_id": "D", "wait_seconds": 0})
    old_client = start_ok(router, "1.0.1", {"order_id": "E", "wait_seconds": 0})
    assert (on_new["lane"], no_header["lane"], old_client["lane"]) == ("1.1", "1.1", "1.0")
    assert router.wait_instance(on_new["statusQueryGetUri"])["output"]["app_version"] == "1.1.0"
    assert router.wait_instance(no_header["statusQueryGetUri"])["output"]["app_version"] == "1.1.0"
    assert router.wait_instance(old_client["statusQueryGetUri"])["output"]["app_version"] == "1.0.1"
    # The sample's entity is an instance that never completes; it must not hold the lane.
    running = router.admin_get("/api/instances", lane="1.0", runtimeStatus="Running").json()["instances"]
    assert "@shipped_orders@all" in {i["instanceId"] for i in running}


def test_lane_1_0_is_deleted_only_after_its_last_instance_completes(router):
    long_order = SCENARIO["long_order"]
    # While order A waits on its timer, the drain monitor counts it and the lane stays.
    vmap = wait_for(lambda: (m := router.version_map())["lanes"]["1.0"]["drain"]["remaining"] >= 1 and m,
                    30, "a drain check that sees order A")
    assert vmap["lanes"]["1.0"]["state"] == "draining"
    assert router.get(long_order["statusQueryGetUri"]).json()["runtimeStatus"] == "Running"
    status = router.wait_instance(long_order["statusQueryGetUri"])
    assert status["output"]["app_version"] == "1.0.1", "started on 1.0.0, completed on the patched 1.0 app"
    vmap = router.wait_lane_state("1.0", "deleted")
    history = {e["event"]: e["at"] for e in vmap["lanes"]["1.0"]["history"]}
    completed = datetime.fromisoformat(status["lastUpdatedTime"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(history["drained"]) >= completed
    assert history["deleted"] >= history["drained"]
    assert vmap["lanes"]["1.0"]["app_exists"] is False
    assert vmap["quota"]["used"] == 1
    assert not (router.lanes_root / "lanes" / "lane-1-0").exists()


def test_a_deleted_lane_is_410_naming_the_current_version(router):
    response = router.start("process_order", {"order_id": "F"}, version="1.0.1")
    assert response.status_code == 410
    body = response.json()
    assert body["error"] == "lane_gone"
    assert body["currentVersion"] == "1.1.0"


def test_error_paths_are_json(router):
    unknown = router.start("process_order", {}, version="7.3.0")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_lane"
    assert unknown.json()["knownLanes"] == ["1.0", "1.1"]
    bad = router.start("process_order", {}, version="seven")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_version"
    assert "seven" in bad.json()["message"]
    not_json = router.start("process_order", version="1.1.0", raw=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error"] == "bad_request"
    too_big = router.start("process_order", version="1.1.0", raw=b'"' + b"x" * (1_048_576 + 10) + b'"')
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    no_key = router.http.post("/api/orchestrators/process_order", json={})
    assert no_key.status_code == 401


def test_no_lane_key_in_the_router_logs(router):
    for lane in ("1.1",):
        assert lane_secrets(router, lane) not in router.host.output()
