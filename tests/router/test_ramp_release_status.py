"""A release that carries a ramp shows the ramp in its own status (GET /api/releases/{id}), which the
release key may read, unlike the admin's version map: the ramp's steps, tagged with the release
in the map, and, while it is the map's latest ramp, the ramp as GET /api/versionmap shows it.
`dfrouter release --wait --ramp` follows it from there (tests/cli/test_cli_release_ramp_wait.py)."""

from __future__ import annotations

from router import version_map as vm
from router.lanes import Release, VersionMap
from router.map_view import ramp_view
from router.release_progress import release_progress
from tests.router.test_ramp import PLAN, T0, T1, T2, provisioned
from tests.router.test_ramp_orchestrations import ramp_body, ramp_state, release, with_ramp_router
from tests.router.router_harness import url_of

RAMPED = Release("1.1.0", "https://builds.example.com/1.1.0.zip")
HANDED = {"version": "1.1.0", "lane": "1.1", "state": "handed_to_lane", "steps": []}


def ramping() -> VersionMap:
    return provisioned(provisioned(VersionMap(), "1.0.0"), "1.1.0", ramp=PLAN)


def _ramp_steps(progress: dict) -> list[tuple[str, str]]:
    return [(s["step"], s.get("detail", "")) for s in progress["steps"] if s["step"].startswith("ramp_")]


def test_the_ramp_a_release_started_carries_the_release_and_its_steps_join_the_release_status():
    vmap = ramping()
    assert vmap.ramp is not None and vmap.ramp.release_id == RAMPED.id
    progress = release_progress(RAMPED.id, HANDED, vmap.lanes["1.1"], vmap.ramp)
    assert progress["state"] == "completed", "the lane's activation is still the release's outcome"
    assert progress["ramp"] == ramp_view(vmap.ramp)
    assert _ramp_steps(progress) == [("ramp_started", "5%, 25%, 100%, 600 s each, from lane 1.0")]

    vmap = vm.record_ramp_check(vmap, "1.1", started_at=T0, started=40, failed=3, at=T1)
    progress = release_progress(RAMPED.id, HANDED, vmap.lanes["1.1"], vmap.ramp)
    assert progress["ramp"]["state"] == "aborted" and progress["ramp"]["checks"][-1]["failed"] == 3
    assert _ramp_steps(progress)[-1][0] == "ramp_aborted" and "3 of 40" in _ramp_steps(progress)[-1][1]


def test_a_completed_ramp_ends_with_its_step_in_the_release_status():
    vmap = ramping()
    for at, started in ((T1, 40), (T2, 80), ("2026-01-01T00:40:00+00:00", 120)):
        vmap = vm.record_ramp_check(vmap, "1.1", started_at=T0, started=started, failed=0, at=at)
    progress = release_progress(RAMPED.id, HANDED, vmap.lanes["1.1"], vmap.ramp)
    assert [step for step, _ in _ramp_steps(progress)] == ["ramp_started", "ramp_advanced", "ramp_advanced",
                                                         "ramp_completed"]
    assert progress["ramp"]["state"] == "completed"


def test_an_admins_ramp_or_another_releases_is_not_shown_as_the_releases():
    vmap = ramping()
    other = release_progress("release-other", HANDED, vmap.lanes["1.1"], vmap.ramp)
    assert "ramp" not in other and _ramp_steps(other) == []
    vmap = provisioned(provisioned(VersionMap(), "1.0.0"), "1.1.0")
    vmap = vm.set_current(vmap, "1.0", at=T1)
    vmap = vm.start_ramp(vmap, "1.1", plan=PLAN, at=T1)
    assert vmap.ramp is not None and vmap.ramp.release_id == ""
    assert "ramp" not in release_progress(RAMPED.id, HANDED, vmap.lanes["1.1"], vmap.ramp)


@with_ramp_router
async def test_a_release_with_a_ramp_shows_the_ramp_in_its_status_until_it_aborts(router):
    await release(router, "1.0.0")
    posted = await router.http.post("/api/releases", json={"version": "1.1.0", "packageUrl": "/packages/1.1.0.zip",
                                                           "ramp": ramp_body([10, 100], 1, 0.2)})
    assert posted.status_code == 202, posted.text
    await router.wait_for_lane("1.1", "active")
    lane = router.lanes.by_url[url_of("1.1")]
    for n in range(2):
        assert (await router.start("1.1.0", instance_id=f"named-{n}")).status_code == 202
    lane.instances["named-0"]["runtimeStatus"] = "Failed"

    vmap = await ramp_state(router, "aborted")
    status = await router.release_status(posted.json()["id"])
    assert status["state"] == "completed"
    assert status["ramp"] == vmap["ramp"], "the release's status shows the ramp as the version map does"
    ramp_steps = [s for s in status["steps"] if s["step"].startswith("ramp_")]
    assert [s["step"] for s in ramp_steps] == ["ramp_started", "ramp_aborted"], status["steps"]
    assert "1 of 2" in ramp_steps[-1]["detail"]
