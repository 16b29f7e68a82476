"""The router's orchestrations, every branch, in-process: lane_lifecycle, release, held_request
and map_command over the router's own function app, with a fake backend and fake lanes
(tests/router/router_harness.py). No lane process, no sleeps beyond the orchestrations' own
sub-second timers."""

from __future__ import annotations

from datetime import datetime

import httpx
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
    # The intake's steps and the lane's, merged in time order (router/release_progress.py): how
    # the two interleave depends on timing, each one's own order does not.
    intake = ("received", "handed_to_lane")
    assert [s for s in steps if s in intake] == list(intake)
    assert [s for s in steps if s not in intake] == ["registered", "registered", "reserved", "app_created",
                                                     "configured", "deployed", "key_read", "healthy", "activated"]
    times = [datetime.fromisoformat(s["at"]) for s in status["steps"]]
    assert times == sorted(times)
    lane = await router.lane("1.0")
    assert lane["state"] == "active" and lane["current"] and lane["deployed_version"] == "1.0.0"


@with_router()
async def test_a_permanent_provider_error_is_not_retried_and_keeps_its_code(router):
    router.backend.fail["create_app"] = [AppNameTaken("the name lane-1.0 is taken", name="lane-1.0")]
    status = await until_done(router, await router.release("1.0.0"))
    assert status["state"] == "failed"
    assert status["error"]["error"] == "app_name_taken"
    assert router.ran("create_app", 1)
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
    assert router.ran("create_app", 2)


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
        assert router.backend.count("check_readiness") >= 2


@with_router(lane_ready_timeout_seconds=30)
async def test_a_deploy_looks_again_until_ready_with_when_its_package_was_set(router):
    router.backend.healthy = False
    release_id = await router.release("1.0.0")

    async def looked_twice():
        return len(router.backend.looks) >= 2

    await router.wait_for("two looks at the lane", looked_twice)
    router.backend.healthy = True
    status = await until_done(router, release_id)
    assert status["state"] == "completed", status
    looks = router.backend.looks
    deployed_at = {at for at, _ in looks}
    assert len(deployed_at) == 1 and deployed_at.pop(), looks  # every look knows when the package was set
    assert looks[0][1] is False and looks[-1][1] is True, looks  # the sync is asked for until it is done
    assert "not_ready" not in [s["step"] for s in status["steps"]]  # the lane's own steps stay in the map
    lane = await router.lane("1.0")
    assert [e["event"] for e in lane["history"]].count("key_read") == 1


@with_router()
async def test_a_retried_set_package_that_finds_its_own_package_still_waits_for_the_restart(router):
    """set_package's first attempt set the package (the site restarts after that) but its answer
    was lost; the retry answers "unchanged" (provisioning/azure.py deploy_package: the settings
    merge changed nothing). The looks must still want a host started after the first attempt,
    or the old host would be called ready. Two answers are lost so that both deliveries of the
    first attempt lose theirs in at-least-once mode."""
    router.backend.lost_deploy_answers = 2
    status = await until_done(router, await router.release("1.0.0"))
    assert status["state"] == "completed", status
    assert router.backend.count("deploy_package") >= 3  # retried after the lost answers
    looks = router.backend.looks
    assert looks and all(at for at, _ in looks), looks  # never "the app already had it"
    first_set = min(router.backend.package_set_at)
    assert all(datetime.fromisoformat(at) <= datetime.fromisoformat(first_set) for at, _ in looks), (looks, first_set)


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


# --- held requests ------------------------------------------------------------------------------

async def held_outcome(router: Router, held_url: str) -> httpx.Response:
    async def ended():
        response = await router.http.get(held_url)
        return response if response.status_code != 202 else None
    return await router.wait_for(f"{held_url} to end", ended)


@with_router()
async def test_a_start_for_a_lazy_lane_is_held_and_forwarded_when_its_lifecycle_wakes_it(router):
    await until_done(router, await router.release("1.0.0", provision="lazy"))
    assert (await router.lane("1.0"))["started"] is False
    held = await router.start("1.0.0", {"order": 1})
    assert held.status_code == 202 and held.json()["held"] is True
    outcome = await held_outcome(router, held.json()["statusQueryGetUri"])
    assert outcome.status_code == 200, outcome.text
    assert outcome.json()["state"] == "forwarded"
    lane = await router.lane("1.0")
    assert lane["state"] == "active" and lane["held"] == []
    assert [i for _, i in router.lanes.starts] == [outcome.json()["instanceId"]]
    # Woken by the lifecycle, not found by polling: forwarded right after the activation.
    activated = datetime.fromisoformat(next(e["at"] for e in lane["history"] if e["event"] == "activated"))
    held_status = (await router.http.get(f"{DURABLE_API}/instances/{held.json()['id']}")).json()
    forwarded = datetime.fromisoformat(held_status["lastUpdatedTime"].replace("Z", "+00:00"))
    assert (forwarded - activated).total_seconds() < 1.0


@with_router()
async def test_a_held_start_for_a_lane_that_fails_answers_503_with_the_cause(router):
    router.backend.fail["create_app"] = [AppNameTaken("taken")]
    await until_done(router, await router.release("1.0.0", provision="lazy"))
    held = await router.start("1.0.0")
    outcome = await held_outcome(router, held.json()["statusQueryGetUri"])
    assert outcome.status_code == 503
    assert outcome.json()["error"] == "lane_failed" and outcome.json()["cause"] == "app_name_taken"


@with_router(held_request_timeout_seconds=1.0, lane_ready_timeout_seconds=30)
async def test_a_held_start_gives_up_at_its_timeout_and_leaves_the_lane(router):
    router.backend.healthy = False  # the lane stays provisioning
    await until_done(router, await router.release("1.0.0", provision="lazy"))
    held = await router.start("1.0.0")
    outcome = await held_outcome(router, held.json()["statusQueryGetUri"])
    assert outcome.status_code == 504 and outcome.json()["error"] == "held_request_timeout"
    lane = await router.lane("1.0")
    assert lane["state"] == "provisioning" and lane["held"] == []


@with_router(drain_grace_seconds=3600, lane_ready_timeout_seconds=30)
async def test_a_held_start_into_a_draining_lane_resets_its_grace_period(router):
    # Lane 1.0 is held up in its health checks while 1.1 becomes current, so it is superseded the
    # moment it activates and its held start is forwarded into a draining lane.
    router.backend.sick.add("lane-1.0")
    await until_done(router, await router.release("1.0.0", provision="lazy"))
    held = await router.start("1.0.0")
    await until_done(router, await router.release("1.1.0"))
    router.backend.sick.clear()
    outcome = await held_outcome(router, held.json()["statusQueryGetUri"])
    assert outcome.status_code == 200 and outcome.json()["state"] == "forwarded", outcome.text
    lane = await router.wait_for("the held forward to be recorded",
                                 lambda: _lane_with(router, "1.0", "last_forward_at"))
    assert lane["state"] == "draining"


@with_router(drain_grace_seconds=3600)
async def test_a_direct_start_into_a_draining_lane_resets_its_grace_period(router):
    await until_done(router, await router.release("1.0.0"))
    await until_done(router, await router.release("1.1.0"))
    await router.wait_for_lane("1.0", "draining")
    assert (await router.start("1.0.0")).status_code == 202
    await router.wait_for("the forward to be recorded", lambda: _lane_with(router, "1.0", "last_forward_at"))


async def _lane_with(router: Router, key: str, field: str):
    lane = await router.lane(key)
    return lane if lane and lane.get(field) else None


# --- patches ------------------------------------------------------------------------------------

@with_router()
async def test_a_patch_is_deployed_in_place(router):
    await until_done(router, await router.release("1.0.0"))
    status = await until_done(router, await router.release("1.0.1"))
    assert status["state"] == "completed"
    lane_steps = [s["step"] for s in status["steps"] if s["step"] not in ("received", "registered", "handed_to_lane")]
    assert lane_steps == ["patch_registered", "deployed", "key_read", "healthy", "patched"]
    assert (await router.lane("1.0"))["deployed_version"] == "1.0.1"
    assert router.ran("create_app", 1)


@with_router()
async def test_a_failed_patch_leaves_the_lane_serving_the_old_one_with_the_error_shown(router):
    await until_done(router, await router.release("1.0.0"))
    router.backend.fail["deploy_package"] = [PackageError("sha256 mismatch")]
    status = await until_done(router, await router.release("1.0.1"))
    assert status["state"] == "failed" and status["error"]["error"] == "package_error"
    lane = await router.lane("1.0")
    assert lane["state"] == "active" and lane["deployed_version"] == "1.0.0"
    assert lane["error"] == {"code": "package_error", "message": "sha256 mismatch"}
    assert (await router.start("1.0.0")).status_code == 202


# --- drain and deletion -------------------------------------------------------------------------

async def two_lanes(router: Router) -> None:
    await until_done(router, await router.release("1.0.0"))
    await until_done(router, await router.release("1.1.0"))


@with_router()
async def test_a_superseded_lane_drains_while_instances_run_then_is_deleted(router):
    await until_done(router, await router.release("1.0.0"))
    assert (await router.start("1.0.0")).status_code == 202
    await until_done(router, await router.release("1.1.0"))
    lane = await router.wait_for("a drain check that saw the instance",
                                 lambda: _drain_saw(router, "1.0", 1))
    assert lane["state"] == "draining"
    router.backend.lane("1.0").finish_all()
    await router.wait_for_lane("1.0", "deleted")
    assert set(router.backend.deleted) == {"lane-1.0"} and router.ran("delete_app", 1)
    assert (await router.version_map())["quota"]["used"] == 1


async def _drain_saw(router: Router, key: str, remaining: int):
    lane = await router.lane(key)
    return lane if lane and lane["drain"]["checked_at"] and lane["drain"]["remaining"] == remaining else None


@with_router()
async def test_a_drain_count_that_cannot_be_made_keeps_the_lane_until_one_can(router):
    await until_done(router, await router.release("1.0.0"))
    router.backend.lane("1.0").query_failures = 1000
    await until_done(router, await router.release("1.1.0"))

    async def failed_check():
        steps = ((await router.lifecycle("1.0")).get("customStatus") or {}).get("steps", [])
        return any(s["step"] == "drain_check_failed" for s in steps)

    await router.wait_for("a drain check that failed", failed_check)
    assert (await router.lane("1.0"))["state"] == "draining"
    router.backend.lane("1.0").query_failures = 0
    await router.wait_for_lane("1.0", "deleted")


@with_router()
async def test_a_recount_before_deletion_that_finds_a_late_start_waits_for_it(router):
    await until_done(router, await router.release("1.0.0"))
    fake = router.backend.lane("1.0")
    await until_done(router, await router.release("1.1.0"))
    await router.wait_for_lane("1.0", "retiring")
    # A start forwarded from a stale cache, before the recount (the lifecycle first waits out
    # the cache lifetime and a second, 1.2 s here).
    fake.start("late_order", "late-1")

    async def waiting():
        steps = ((await router.lifecycle("1.0")).get("customStatus") or {}).get("steps", [])
        return any(s["step"] == "waiting" for s in steps)

    await router.wait_for("the lifecycle to wait for the late start", waiting)
    assert router.backend.deleted == []
    fake.finish_all()
    await router.wait_for_lane("1.0", "deleted")


@with_router()
async def test_a_failing_deletion_keeps_the_lane_retiring_and_counted_until_an_admin_retries(router):
    await two_lanes(router)
    router.backend.fail["delete_app"] = [TransientProvisioningError("ARM 500")] * 100
    lane = await router.wait_for("a recorded deletion error", lambda: _lane_with(router, "1.0", "error"))
    assert lane["state"] == "retiring"
    assert lane["error"] == {"code": "provisioning_transient", "message": "ARM 500"}
    assert (await router.version_map())["quota"]["used"] == 2
    router.backend.fail["delete_app"].clear()
    retried = await router.http.post("/api/lanes/1.0/retire")
    assert retried.status_code == 202, retried.text
    deleted = await router.wait_for_lane("1.0", "deleted")
    assert deleted["error"] is None
    assert (await router.version_map())["quota"]["used"] == 1


@with_router(drain_poll_seconds=3600)
async def test_a_forced_retire_deletes_without_counting(router):
    await until_done(router, await router.release("1.0.0"))
    assert (await router.start("1.0.0")).status_code == 202
    await until_done(router, await router.release("1.1.0"))
    refused = await router.http.post("/api/lanes/1.0/retire")
    assert refused.status_code == 409 and refused.json()["error"] == "illegal_transition"
    fake = router.backend.lane("1.0")
    counted = fake.queries  # the lane was never counted: its lifecycle sleeps until the next poll
    forced = await router.http.post("/api/lanes/1.0/retire?force=true")
    assert forced.status_code == 202
    lane = await router.wait_for_lane("1.0", "deleted")
    assert lane["forced_retire"] is True
    assert fake.queries == counted  # deleted without another count


# --- keys and admin commands --------------------------------------------------------------------

@with_router()
async def test_a_rotated_lane_key_is_read_again(router):
    await until_done(router, await router.release("1.0.0"))
    assert (await router.start("1.0.0")).status_code == 202
    reads = router.backend.count("read_system_key")
    router.backend.lane("1.0").key = "rotated"
    assert (await router.start("1.0.0")).status_code == 202
    assert router.backend.count("read_system_key") == reads + 1


@with_router()
async def test_admin_commands_go_through_the_map_and_answer_its_refusals(router):
    await two_lanes(router)
    closed = await router.http.post("/api/lanes/1.0/close")
    assert closed.status_code == 200 and closed.json()["closed"] is True
    gone = await router.start("1.0.0")
    assert gone.status_code == 410 and gone.json()["currentVersion"] == "1.1.0"
    refused = await router.http.post("/api/lanes/1.1/close")
    assert refused.status_code == 409 and refused.json()["error"] == "illegal_transition"


# --- release intake -----------------------------------------------------------------------------

@with_router()
async def test_a_release_the_map_refuses_ends_failed_with_the_maps_error(router):
    await until_done(router, await router.release("1.0.1"))
    # Intake checks first; a release that races past it is refused by the map inside the orchestration.
    started = await router.http.post(f"{DURABLE_API}/orchestrators/release/release-racer", json={
        "release": {"version": "1.0.0", "package_url": "/packages/1.0.0.zip"}})
    assert started.status_code == 202, started.text
    status = await until_done(router, "release-racer")
    assert status["state"] == "failed" and status["error"]["error"] == "version_not_newer"
    assert [s["step"] for s in status["steps"]] == ["received", "rejected"]


@with_router(lane_ready_timeout_seconds=30)
async def test_a_release_overtaken_by_a_newer_patch_says_superseded(router):
    await until_done(router, await router.release("1.0.0"))
    router.backend.healthy = False  # 1.0.1 waits in its health checks
    first = await router.release("1.0.1")
    second = await router.release("1.0.2")
    router.backend.healthy = True
    assert (await until_done(router, second))["state"] == "completed"
    assert (await until_done(router, first))["state"] == "completed"  # deployed, then replaced by 1.0.2


# --- lanes watched, drains counted, releases never backwards (issue 12) -------------------------

@with_router()
async def test_a_lane_that_stops_answering_is_marked_unhealthy_answered_503_and_brought_back(router):
    await until_done(router, await router.release("1.0.0"))
    fake = router.backend.lane("1.0")
    fake.down, fake.restarts_to_recover = True, 3
    lane = await router.wait_for("the lane to be marked unhealthy", lambda: _lane_with(router, "1.0", "unhealthy"))
    assert lane["state"] == "active"
    assert lane["unhealthy"]["code"] == "lane_unreachable" and lane["unhealthy_since"]
    refused = await router.start("1.0.0")
    assert refused.status_code == 503
    assert refused.json()["error"] == "lane_unhealthy" and refused.json()["since"] == lane["unhealthy_since"]
    status = (await router.http.get("/api/status")).json()
    assert status["lanes"]["1.0"]["unhealthy"]["since"] == lane["unhealthy_since"]

    async def recovered():
        lane = await router.lane("1.0")
        return lane if lane["unhealthy"] is None else None

    lane = await router.wait_for("the lane to be brought back", recovered)
    assert router.ran("restart_app", 3)
    assert [e["event"] for e in lane["history"]][-2:] == ["unhealthy", "recovered"]
    assert (await router.start("1.0.0")).status_code == 202


@with_router(lane_ready_timeout_seconds=30)
async def test_a_held_start_whose_lane_dies_waits_for_it_and_is_forwarded_once_back(router):
    router.backend.healthy = False  # the lazy lane stays provisioning until the test says
    await until_done(router, await router.release("1.0.0", provision="lazy"))
    held = await router.start("1.0.0", {"order": 7})
    await router.wait_for("the lane's app", lambda: _lane_with(router, "1.0", "app_url"))
    fake = router.backend.lane("1.0")
    fake.down, fake.restarts_to_recover = True, 2
    router.backend.healthy = True
    outcome = await held_outcome(router, held.json()["statusQueryGetUri"])
    assert outcome.status_code == 200 and outcome.json()["state"] == "forwarded", outcome.text
    assert outcome.json()["instanceId"] in fake.instances
    assert router.backend.count("restart_app") >= 2


@with_router()
async def test_an_orchestration_with_an_entity_like_id_holds_the_drain_but_a_real_entity_does_not(router):
    await until_done(router, await router.release("1.0.0"))
    fake = router.backend.lane("1.0")
    fake.entities.add("@counter@k1")
    fake.start("process_order", "@evil@x")  # taken directly on the lane, around the router
    await until_done(router, await router.release("1.1.0"))
    lane = await router.wait_for("a drain check that counts the orchestration",
                                 lambda: _drain_saw(router, "1.0", 1))
    assert lane["state"] == "draining"
    fake.instances["@evil@x"]["runtimeStatus"] = "Completed"
    await router.wait_for_lane("1.0", "deleted")  # the entity alone does not hold it


@with_router()
async def test_a_release_never_goes_backwards_even_after_its_lane_was_deleted(router):
    await until_done(router, await router.release("1.0.0"))
    await until_done(router, await router.release("1.0.1"))
    refused = await router.http.post("/api/releases", json={"version": "1.0.0", "packageUrl": "/packages/old.zip"})
    assert refused.status_code == 409 and refused.json()["error"] == "version_not_newer"
    await until_done(router, await router.release("1.1.0"))
    await router.wait_for_lane("1.0", "deleted")
    refused = await router.http.post("/api/releases", json={"version": "1.0.0", "packageUrl": "/packages/old.zip"})
    assert refused.status_code == 409 and refused.json()["deployedVersion"] == "1.0.1"
    assert (await router.lane("1.0"))["state"] == "deleted"
    again = await router.http.post("/api/releases", json={"version": "1.0.1", "packageUrl": "/packages/1.0.1.zip"})
    assert again.status_code == 202 and again.json()["retry"] is True  # the same code may come back

    async def served_again():
        lane = await router.lane("1.0")
        return [e["event"] for e in lane["history"]].count("activated") == 2

    await router.wait_for("lane 1.0 to serve 1.0.1 again", served_again)


@with_router(drain_poll_seconds=0.5, lane_probe_seconds=0.05, drain_grace_seconds=3600)
async def test_a_draining_lane_is_called_once_per_drain_poll_its_count_being_its_probe(router):
    await until_done(router, await router.release("1.0.0"))
    assert (await router.start("1.0.0")).status_code == 202  # keeps lane 1.0 draining
    await until_done(router, await router.release("1.1.0"))
    fake = router.backend.lane("1.0")
    await router.wait_for("a first drain check", lambda: _drain_saw(router, "1.0", 1))
    requests, queries = fake.requests, fake.queries

    async def three_more_counts():
        return fake.queries >= queries + 3

    await router.wait_for("three more drain counts", three_more_counts)
    # Every call since was a drain count: no probe every 0.05 s on top of them.
    assert fake.requests - requests == fake.queries - queries
    assert router.backend.lane("1.1").requests > fake.requests - requests  # the current lane is probed
