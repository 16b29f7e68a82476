"""The router itself is durable: killed mid-drain, it comes back and finishes the lifecycle."""

from __future__ import annotations

import asyncio

import pytest

from provisioning.local import LocalLaneBackend
from samples.build import build_package
from tests.e2e.conftest import start_ok

pytestmark = pytest.mark.e2e


def test_a_killed_router_resumes_draining_and_deletes_the_old_lane(router, tmp_path):
    def release(version: str) -> None:
        response = router.post_release(version, str(build_package(version, tmp_path)))
        assert router.wait_release(response.json()["id"])["state"] == "completed"

    release("1.0.0")
    order = start_ok(router, "1.0.0", {"order_id": "survivor", "wait_seconds": 8})
    release("1.1.0")
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
    asyncio.run(LocalLaneBackend(router.lanes_root).stop_all())
