"""The seed scenario, step by step, through real HTTP: the router in the dev host, lanes from
the local provisioner.

The story runs as the demo tells it: release 1.0.0, orders A (long) and B, patch 1.0.1, release
1.1.0, lane 1.0 drains and is deleted. Each test has a router of its own and takes the story up
to the step it checks (`scenario.reach`), so it passes alone and in any order.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from demo.router_client import RouterClient, wait_for
from tests.e2e.conftest import all_lane_secrets, lane_secrets, release, start_ok

pytestmark = pytest.mark.e2e

ORDER_A_SECONDS = 12  # long enough to outlive the patch and the next release, short for a test


class SeedScenario:
    """The story's steps on one router; each runs once, after the steps before it."""

    def __init__(self, router: RouterClient, packages: dict[str, Path]) -> None:
        self.router = router
        self.packages = packages
        self.done: dict[str, Any] = {}
        self.steps: dict[str, Callable[[], Any]] = {
            "release 1.0.0": lambda: release(router, "1.0.0", packages["1.0.0"]),
            "orders A and B": self._orders_a_and_b,
            "patch 1.0.1": lambda: release(router, "1.0.1", packages["1.0.1"]),
            "release 1.1.0": lambda: release(router, "1.1.0", packages["1.1.0"]),
        }

    def reach(self, step: str) -> Any:
        """Run every step up to `step` that has not run yet; the result of `step`."""
        for name, run in self.steps.items():
            if name not in self.done:
                self.done[name] = run()
            if name == step:
                return self.done[name]
        raise KeyError(step)

    @property
    def order_a(self) -> dict[str, Any]:
        return self.reach("orders A and B")["A"]

    def _orders_a_and_b(self) -> dict[str, Any]:
        long_order = start_ok(self.router, "1.0.0", {"order_id": "A", "wait_seconds": ORDER_A_SECONDS})
        short_order = start_ok(self.router, "1.0.9", {"order_id": "B", "wait_seconds": 0})
        # A is on its timer once its custom status says so: the positive signal that it runs.
        wait_for(lambda: (self.router.get(long_order["statusQueryGetUri"]).json().get("customStatus") or {})
                 .get("step") == "waiting_for_pickup", 20, "order A to wait for its pickup")
        return {"A": long_order, "B": short_order}


@pytest.fixture
def scenario(fresh_router, packages) -> SeedScenario:
    return SeedScenario(fresh_router, packages)


def test_release_1_0_0_creates_lane_1_0(scenario):
    status = scenario.reach("release 1.0.0")
    steps = [s["step"] for s in status["steps"]]
    for step in ("registered", "reserved", "app_created", "configured", "deployed", "key_read", "healthy", "activated"):
        assert step in steps
    vmap = scenario.router.version_map()
    assert vmap["current"] == "1.0"
    assert vmap["lanes"]["1.0"]["state"] == "active"
    assert vmap["lanes"]["1.0"]["deployed_version"] == "1.0.0"


def test_versions_of_one_lane_reach_the_same_app(scenario):
    orders = scenario.reach("orders A and B")
    assert orders["A"]["lane"] == orders["B"]["lane"] == "1.0"
    output = scenario.router.wait_instance(orders["B"]["statusQueryGetUri"])["output"]
    assert output["app_version"] == "1.0.0"


def test_management_urls_point_at_the_router_only(scenario):
    router, order = scenario.router, scenario.order_a
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


def test_patch_1_0_1_is_deployed_in_place(scenario):
    router = scenario.router
    scenario.reach("orders A and B")
    app_before = router.version_map()["lanes"]["1.0"]["app_name"]
    scenario.reach("patch 1.0.1")
    vmap = router.version_map()
    assert list(vmap["lanes"]) == ["1.0"], "a patch never creates a lane"
    assert vmap["lanes"]["1.0"]["deployed_version"] == "1.0.1"
    assert vmap["lanes"]["1.0"]["app_name"] == app_before
    # The instance that was waiting on its timer keeps running on the patched app.
    assert router.get(scenario.order_a["statusQueryGetUri"]).json()["runtimeStatus"] == "Running"


def test_a_release_not_newer_than_the_lane_is_409(scenario):
    scenario.reach("patch 1.0.1")
    response = scenario.router.post_release("1.0.1", str(scenario.packages["1.0.0"]))
    assert response.status_code == 409
    assert response.json()["error"] == "version_not_newer"


def test_release_1_1_0_gets_a_new_app_and_task_hub(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
    vmap = router.version_map()
    assert vmap["current"] == "1.1"
    assert vmap["lanes"]["1.1"]["app_name"] != vmap["lanes"]["1.0"]["app_name"]
    assert vmap["lanes"]["1.0"]["state"] == "draining", "order A holds it"
    assert lane_secrets(router, "1.1") != lane_secrets(router, "1.0")


def test_new_requests_follow_their_version(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
    on_new = start_ok(router, "1.1.4", {"order_id": "C", "wait_seconds": 0})
    no_header = start_ok(router, None, {"order_id": "D", "wait_seconds": 0})
    old_client = start_ok(router, "1.0.1", {"order_id": "E", "wait_seconds": 0})
    assert (on_new["lane"], no_header["lane"], old_client["lane"]) == ("1.1", "1.1", "1.0")
    assert router.wait_instance(on_new["statusQueryGetUri"])["output"]["app_version"] == "1.1.0"
    assert router.wait_instance(no_header["statusQueryGetUri"])["output"]["app_version"] == "1.1.0"
    assert router.wait_instance(old_client["statusQueryGetUri"])["output"]["app_version"] == "1.0.1"


def test_an_entity_instance_does_not_hold_a_draining_lane(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
    # Orders that completed on 1.0 signalled the sample's entity: an instance that never completes.
    wait_for(lambda: "@shipped_orders@all" in {
        i["instanceId"] for i in router.admin_get("/api/instances", lane="1.0", runtimeStatus="Running").json()["instances"]
    }, 30, "the entity instance on lane 1.0")
    router.wait_instance(scenario.order_a["statusQueryGetUri"], deadline=ORDER_A_SECONDS + 30)
    router.wait_lane_state("1.0", "deleted")


def test_lane_1_0_is_deleted_only_after_its_last_instance_completes(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
    long_order = scenario.order_a
    # While order A waits on its timer, the drain monitor counts it and the lane stays.
    vmap = wait_for(lambda: (m := router.version_map())["lanes"]["1.0"]["drain"]["remaining"] >= 1 and m,
                    30, "a drain check that sees order A")
    assert vmap["lanes"]["1.0"]["state"] == "draining"
    assert router.get(long_order["statusQueryGetUri"]).json()["runtimeStatus"] == "Running"
    status = router.wait_instance(long_order["statusQueryGetUri"], deadline=ORDER_A_SECONDS + 30)
    assert status["output"]["app_version"] == "1.0.1", "started on 1.0.0, completed on the patched 1.0 app"
    vmap = router.wait_lane_state("1.0", "deleted")
    history = {e["event"]: e["at"] for e in vmap["lanes"]["1.0"]["history"]}
    completed = datetime.fromisoformat(status["lastUpdatedTime"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(history["drained"]) >= completed
    assert history["deleted"] >= history["drained"]
    assert vmap["lanes"]["1.0"]["app_exists"] is False
    assert vmap["quota"]["used"] == 1
    assert not (router.lanes_root / "lanes" / "lane-1-0").exists()


def test_a_deleted_lane_is_410_naming_the_current_version(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
    router.wait_lane_state("1.0", "deleted", deadline=ORDER_A_SECONDS + 60)
    response = router.start("process_order", {"order_id": "F"}, version="1.0.1")
    assert response.status_code == 410
    body = response.json()
    assert body["error"] == "lane_gone"
    assert body["currentVersion"] == "1.1.0"


def test_error_paths_are_json(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
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


def test_no_lane_key_in_the_router_logs(scenario):
    router = scenario.router
    scenario.reach("release 1.1.0")
    for version in ("1.0.1", "1.1.0"):  # traffic to both lanes, through their keys
        router.wait_instance(start_ok(router, version, {"order_id": f"log-{version}", "wait_seconds": 0})["statusQueryGetUri"])
    output = router.host.output()
    for secret in all_lane_secrets(router):
        assert secret not in output
