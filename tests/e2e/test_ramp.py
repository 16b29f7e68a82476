"""Progressive ramps end to end: the router in the dev host, lanes as local dev hosts (samples 1.0.0
and 1.1.0, and demo/failing_order_app, a build whose orchestrations all fail).

Each test has a router of its own: a ramp changes which lane is current for good.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from demo.router_client import RouterClient
from demo.stack import FAST_SETTINGS
from provisioning import packaging
from router.ramp import sticky_bucket
from samples.build import SAMPLES_DIR, TARGET, VERSIONS, package_sha256
from tests.e2e.conftest import release, start_ok

pytestmark = pytest.mark.e2e

FAILING_APP = Path(__file__).resolve().parents[2] / "demo" / "failing_order_app"
CACHE_SECONDS = float(FAST_SETTINGS["ROUTER_MAP_CACHE_SECONDS"])
ORDER = {"order_id": "ramp", "wait_seconds": 0}


def release_with_ramp(router: RouterClient, version: str, package: Path, ramp: dict[str, Any]) -> dict[str, Any]:
    response = router.post_release(version, str(package), package_sha256(package), ramp=ramp)
    assert response.status_code == 202, response.text
    status = router.wait_release(response.json()["id"])
    assert status["state"] == "completed", status
    return status


def at_step(router: RouterClient, step: int) -> dict[str, Any]:
    """The map once the ramp runs step `step` (1-based)."""
    return router.wait_ramp(lambda vmap: vmap["ramp"]["state"] == "running" and vmap["ramp"]["step"] == step,
                            f"ramp step {step}")


def version_less_starts(router: RouterClient, n: int) -> list[str]:
    """The lanes `n` version-less starts (no instance id: placed by the router's draw) went to."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: start_ok(router, None, ORDER)["lane"], range(n)))


def test_a_ramp_advances_through_its_steps_with_the_share_of_version_less_starts_of_each(fresh_router, packages):
    """At each step, n = 60 version-less starts without an instance id (each placed by an
    independent draw) go to the new lane with probability p = the step's share, so the count is
    Binomial(n, p). The observed share is accepted when |observed - p| <= 4 * sqrt(p(1-p)/n): a
    correct router fails this about once in 16,000 runs per step (4 standard deviations), a router
    that ignores the ramp (p = 0 or 1) or uses the wrong step fails it every time. Each batch starts
    once the step is seen in the map and every router cache has had ROUTER_MAP_CACHE_SECONDS to see
    it, and the map is read again after the batch to show the step did not change under it."""
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    steps, n = [20, 60, 100], 60
    release_with_ramp(router, "1.1.0", packages["1.1.0"], {"steps": steps, "stepSeconds": 6, "maxFailedRatio": 0.05})
    assert router.version_map()["current"] == "1.0"
    assert router.lane_state("1.0") == "active", "the old lane drains only when the ramp completes"

    for number, share in enumerate(steps, start=1):
        at_step(router, number)
        time.sleep(CACHE_SECONDS + 0.2)  # every router worker's map cache now holds this step
        lanes = version_less_starts(router, n)
        after = router.version_map()["ramp"]
        assert after["state"] == "running" and after["step"] == number, "the step changed during the batch"
        observed, p = lanes.count("1.1") / n, share / 100
        assert abs(observed - p) <= 4 * math.sqrt(p * (1 - p) / n), (share, observed)
        assert set(lanes) <= {"1.0", "1.1"}
        if number == 1:
            # Sticky: a retried start (same instance id) lands where the first one did, and finds it.
            for instance_id in ("sticky-3", "sticky-8"):
                lane = "1.1" if sticky_bucket(instance_id) < share else "1.0"
                first = start_ok(router, None, ORDER, instance_id=instance_id)
                assert first["lane"] == lane
                again = router.start("process_order", ORDER, instance_id=instance_id)
                assert again.status_code == 409 and again.json()["lane"] == lane, again.text
            named = start_ok(router, "1.0.0", ORDER)
            assert named["lane"] == "1.0", "a start that names a version is never ramped"

    vmap = router.wait_ramp(lambda vmap: vmap["ramp"]["state"] == "completed", "the ramp to complete")
    assert vmap["current"] == "1.1"
    assert [check["share"] for check in vmap["ramp"]["checks"]] == steps
    assert all(check["failed"] == 0 for check in vmap["ramp"]["checks"])
    router.wait_lane_state("1.0", "draining")
    assert set(version_less_starts(router, 5)) == {"1.1"}


def test_a_ramp_onto_a_lane_whose_orchestrations_fail_aborts_and_the_previous_lane_stays_current(
        fresh_router, packages, tmp_path):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    failing = packaging.build_package(FAILING_APP, tmp_path / "failing.zip", target=TARGET,
                                      requirements=SAMPLES_DIR / VERSIONS[0] / "requirements.txt").path
    release_with_ramp(router, "1.1.0", failing, {"steps": [50, 100], "stepSeconds": 4, "maxFailedRatio": 0.1})
    at_step(router, 1)
    lanes = version_less_starts(router, 20)
    assert "1.1" in lanes, "half the starts go to the new lane"

    vmap = router.wait_ramp(lambda vmap: vmap["ramp"]["state"] == "aborted", "the ramp to abort", deadline=60)
    assert vmap["current"] == "1.0"
    assert vmap["lanes"]["1.0"]["state"] == "active"
    assert vmap["lanes"]["1.1"]["state"] == "active", "still there for starts that name it"
    check = vmap["ramp"]["checks"][-1]
    assert check["failed"] > 0 and check["ratio"] > 0.1, check
    assert "failed" in vmap["ramp"]["reason"]
    assert set(version_less_starts(router, 10)) == {"1.0"}


def test_a_router_restarted_mid_ramp_resumes_it(fresh_router, packages):
    router = fresh_router
    release(router, "1.0.0", packages["1.0.0"])
    release_with_ramp(router, "1.1.0", packages["1.1.0"], {"steps": [30, 100], "stepSeconds": 8, "maxFailedRatio": 0.05})
    before = at_step(router, 1)["ramp"]

    router.host.kill()  # SIGKILL mid-step: the ramp's durable timer is in the router's task hub
    router.host.restart()

    vmap = router.wait_ramp(lambda vmap: vmap["ramp"]["state"] == "completed", "the ramp to complete", deadline=90)
    assert vmap["ramp"]["startedAt"] == before["startedAt"], "the same ramp, resumed"
    assert [check["share"] for check in vmap["ramp"]["checks"]] == [30, 100]
    assert vmap["current"] == "1.1"
    router.wait_lane_state("1.0", "draining")
