"""A lane host that dies is noticed and brought back without a release (issue 12; SPEC 3's
*unhealthy* condition): the router and a real local lane, the lane's host killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from demo.router_client import wait_for
from tests.e2e.conftest import release, start_ok

pytestmark = pytest.mark.e2e

BACK_WITHIN_SECONDS = 30


def lane_pid(router, lane: str) -> int:
    state = router.lanes_root / "lanes" / f"lane-{lane.replace('.', '-')}" / "state.json"
    return int(json.loads(state.read_text())["pid"])


def test_a_killed_lane_host_is_back_and_serving_within_30_s_without_a_release(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    start_ok(router, "1.0.0", {"order_id": "before", "wait_seconds": 0})
    pid = lane_pid(router, "1.0")
    releases_before = len(router.version_map()["lanes"]["1.0"]["history"])

    os.killpg(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    statuses = []
    while time.monotonic() - killed_at < BACK_WITHIN_SECONDS:
        response = router.start("process_order", {"order_id": "after", "wait_seconds": 0}, version="1.0.0")
        statuses.append(response.status_code)
        if response.status_code == 202:
            break
        assert response.status_code in (502, 503, 504), response.text
        assert response.headers.get("content-type", "").startswith("application/json")
        time.sleep(0.5)
    assert statuses[-1] == 202, f"not back within {BACK_WITHIN_SECONDS} s: {statuses}"

    # A router worker may forward from a map read before the lane was marked: the lifecycle
    # marks it recovered at its next probe, within the same budget.
    def recovered():
        lane = router.version_map()["lanes"]["1.0"]
        return lane if lane["unhealthy"] is None and lane["history"][-1]["event"] == "recovered" else None

    lane = wait_for(recovered, BACK_WITHIN_SECONDS - (time.monotonic() - killed_at), "lane 1.0 marked recovered")
    assert lane["state"] == "active"
    assert lane_pid(router, "1.0") != pid
    events = [e["event"] for e in lane["history"][releases_before:]]
    # Only the lifecycle restarts a dead host: it marked the lane and brought it back, no release did.
    assert events[-2:] == ["unhealthy", "recovered"]
    assert "registered" not in events and "patch_registered" not in events
