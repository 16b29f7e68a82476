"""The router itself is durable: killed mid-drain, it comes back and finishes the lifecycle.

Each test has a router of its own (it kills the router, or a lifecycle), so each passes alone.
"""

from __future__ import annotations

import pytest

from demo.router_client import wait_for
from provisioning.local import LocalLaneBackend
from tests.e2e.conftest import release, start_ok

pytestmark = pytest.mark.e2e


def test_a_killed_router_resumes_draining_and_deletes_the_old_lane(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    order = start_ok(router, "1.0.0", {"order_id": "survivor", "wait_seconds": 8})
    release(router, "1.1.0", packages["1.1.0"])
    assert router.lane_state("1.0") == "draining"

    router.host.kill()  # SIGKILL: nothing gets to clean up
    router.host.restart()

    # Lanes live on their own; the restarted router finds them and its lifecycles go on.
    status = router.wait_instance(order["statusQueryGetUri"], deadline=60)
    assert status["output"]["app_version"] == "1.0.0"
    vmap = router.wait_lane_state("1.0", "deleted", deadline=90)
    assert vmap["lanes"]["1.1"]["state"] == "active"
    after = start_ok(router, None, {"order_id": "after-restart", "wait_seconds": 0})
    assert after["lane"] == "1.1"
    lanes = LocalLaneBackend(router.lanes_root).lanes()
    assert [(state.lane, running) for state, running in lanes] == [("1.1", True)], "none lost, none duplicated"


def test_a_lost_lifecycle_is_taken_over_by_the_next_release(fresh_router, packages):
    router = fresh_router
    release(router, "1.1.0", packages["1.1.0"])
    # An operator terminated lane 1.1's lifecycle through the router's own Durable HTTP API.
    lifecycle = "lane-lifecycle-1.1"
    api = f"/runtime/webhooks/durabletask/instances/{lifecycle}"
    key = {"x-functions-key": router.host.system_key}
    assert router.http.post(f"{api}/terminate", params={"reason": "oops"}, headers=key).status_code == 202
    wait_for(lambda: router.http.get(api, headers=key).json()["runtimeStatus"] == "Terminated", 20, "terminate")

    release(router, "1.1.1", packages["1.1.0"])
    assert router.version_map()["lanes"]["1.1"]["deployed_version"] == "1.1.1"
    assert router.http.get(api, headers=key).json()["runtimeStatus"] == "Running"
    order = start_ok(router, "1.1.1", {"order_id": "after-takeover", "wait_seconds": 0})
    assert router.wait_instance(order["statusQueryGetUri"])["runtimeStatus"] == "Completed"
