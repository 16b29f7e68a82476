"""Progressive ramps, pure: the split of version-less starts, the step decision, the ramp's state
machine in the version map, its view and its validation."""

from __future__ import annotations

import pytest

from router import version_map as vm
from router.errors import BadRequest, IllegalTransition
from router.lanes import LaneState, RampPlan, RampState, Release, VersionMap
from router.map_operations import apply_operation
from router.map_view import version_map_view
from router.ramp import ramp_instance_id, sticky_bucket, takes_ramp_lane
from router.routing import decide
from router.settings import Settings
from router.validation import parse_ramp
from router.versions import parse_version

T0 = "2026-01-01T00:00:00+00:00"
T1 = "2026-01-01T00:10:00+00:00"
T2 = "2026-01-01T00:20:00+00:00"
T3 = "2026-01-01T00:30:00+00:00"
SETTINGS = Settings()
PLAN = RampPlan((5, 25, 100), 600, 0.05)


def provisioned(vmap: VersionMap, version: str, *, ramp: RampPlan | None = None) -> VersionMap:
    lane = version.rsplit(".", 1)[0]
    release = Release(version, f"https://builds.example.com/{version}.zip")
    vmap = vm.register_release(vmap, release, max_lanes=10, at=T0)[0]
    vmap = vm.reserve_lane(vmap, lane, max_lanes=10, at=T0)
    vmap = vm.record_app(vmap, lane, app_name=f"app-{lane}", app_url=f"http://lane-{lane}", at=T0)
    return vm.activate(vmap, lane, version=version, ramp=ramp, at=T0)


@pytest.fixture
def ramping() -> VersionMap:
    """1.0 current, 1.1 released with a ramp: active, taking 5% of version-less starts."""
    return provisioned(provisioned(VersionMap(), "1.0.0"), "1.1.0", ramp=PLAN)


# --- the split ---------------------------------------------------------------------------------

def test_the_sticky_bucket_is_the_same_for_the_same_id_and_spreads_ids_evenly():
    assert sticky_bucket("order-42") == sticky_bucket("order-42")
    buckets = [sticky_bucket(f"order-{n}") for n in range(10_000)]
    assert all(0 <= b < 100 for b in buckets)
    below_25 = sum(b < 25 for b in buckets) / len(buckets)
    # 10,000 ids, p = 0.25: 4 standard deviations are 0.0173.
    assert abs(below_25 - 0.25) < 0.0173


@pytest.mark.parametrize("share, draw, expected", [(5, 4.99, True), (5, 5.0, False), (100, 99.99, True),
                                                   (1, 0.0, True), (50, 100.0, False)])
def test_a_start_without_an_instance_id_is_placed_by_the_draw(share, draw, expected):
    assert takes_ramp_lane(share, None, draw) is expected


def test_an_instance_id_wins_over_the_draw_so_a_retried_start_lands_on_the_same_lane(ramping):
    inside = next(f"id-{n}" for n in range(1000) if sticky_bucket(f"id-{n}") < 5)
    outside = next(f"id-{n}" for n in range(1000) if sticky_bucket(f"id-{n}") >= 5)
    for draw in (0.0, 50.0, 99.9):
        assert decide(ramping, None, SETTINGS, instance_id=inside, draw=draw).lane == "1.1"
        assert decide(ramping, None, SETTINGS, instance_id=outside, draw=draw).lane == "1.0"


def test_a_start_that_names_a_version_is_never_ramped(ramping):
    for draw in (0.0, 99.0):
        assert decide(ramping, parse_version("1.0.0"), SETTINGS, draw=draw).lane == "1.0"
        assert decide(ramping, parse_version("1.1.0"), SETTINGS, draw=draw).lane == "1.1"


def test_a_ramp_lane_that_stopped_answering_takes_no_version_less_start(ramping):
    vmap = vm.mark_unhealthy(ramping, "1.1", code="lane_unreachable", message="down", at=T1)
    assert decide(vmap, None, SETTINGS, draw=0.0).lane == "1.0"


def test_the_ramp_instance_id_is_deterministic_and_url_safe():
    assert ramp_instance_id("1.1", T0) == "ramp-1.1-202601010000000000" == ramp_instance_id("1.1", T0)
    assert ramp_instance_id("1.1", T0) != ramp_instance_id("1.1", T1)


# --- the state machine ---------------------------------------------------------------------------

def test_a_release_with_a_ramp_activates_beside_the_current_lane(ramping):
    assert ramping.current == "1.0"
    assert ramping.lanes["1.0"].state is LaneState.ACTIVE, "nothing drains before the ramp completes"
    assert ramping.lanes["1.1"].state is LaneState.ACTIVE
    ramp = ramping.ramp
    assert ramp is not None and (ramp.lane, ramp.from_lane, ramp.share, ramp.state) == ("1.1", "1.0", 5,
                                                                                      RampState.RUNNING)
    assert ramp.step_ends_at == T1
    assert decide(ramping, None, SETTINGS, draw=4.0).lane == "1.1"
    assert decide(ramping, None, SETTINGS, draw=5.0).lane == "1.0"


def test_the_first_release_with_a_ramp_becomes_current_at_once():
    vmap = provisioned(VersionMap(), "1.0.0", ramp=PLAN)
    assert vmap.current == "1.0" and vmap.ramp is None


def test_a_ramp_advances_then_completes_and_only_then_the_old_lane_drains(ramping):
    vmap = vm.record_ramp_check(ramping, "1.1", started_at=T0, started=40, failed=1, at=T1)
    assert (vmap.ramp.share, vmap.ramp.step_ends_at, vmap.current) == (25, T2, "1.0")
    assert vmap.lanes["1.0"].state is LaneState.ACTIVE
    vmap = vm.record_ramp_check(vmap, "1.1", started_at=T0, started=200, failed=10, at=T2)
    assert vmap.ramp.share == 100 and vmap.ramp.state is RampState.RUNNING
    vmap = vm.record_ramp_check(vmap, "1.1", started_at=T0, started=500, failed=20, at=T3)
    assert vmap.ramp.state is RampState.COMPLETED and vmap.ramp.share == 0
    assert vmap.current == "1.1"
    assert vmap.lanes["1.0"].state is LaneState.DRAINING
    assert [(c.share, c.started, c.failed) for c in vmap.ramp.checks] == [(5, 40, 1), (25, 200, 10), (100, 500, 20)]
    assert decide(vmap, None, SETTINGS, draw=99.0).lane == "1.1"


def test_a_failed_share_above_the_limit_aborts_and_the_previous_lane_stays_current(ramping):
    vmap = vm.record_ramp_check(ramping, "1.1", started_at=T0, started=40, failed=3, at=T1)
    ramp = vmap.ramp
    assert ramp.state is RampState.ABORTED and ramp.ended_at == T1
    assert "3 of 40" in ramp.reason and "7.5%" in ramp.reason
    assert vmap.current == "1.0"
    assert vmap.lanes["1.0"].state is LaneState.ACTIVE
    assert vmap.lanes["1.1"].state is LaneState.ACTIVE, "still reachable by its version"
    assert decide(vmap, None, SETTINGS, draw=0.0).lane == "1.0"
    assert vmap.lanes["1.1"].history[-1].event == "ramp_aborted"


def test_exactly_the_limit_does_not_abort(ramping):
    vmap = vm.record_ramp_check(ramping, "1.1", started_at=T0, started=100, failed=5, at=T1)
    assert vmap.ramp.state is RampState.RUNNING


def test_no_start_on_the_new_lane_is_no_failure(ramping):
    vmap = vm.record_ramp_check(ramping, "1.1", started_at=T0, started=0, failed=0, at=T1)
    assert vmap.ramp.share == 25


def test_a_check_of_an_ended_or_other_ramp_or_a_step_checked_already_changes_nothing(ramping):
    assert vm.record_ramp_check(ramping, "1.1", started_at=T1, started=1, failed=1, at=T1) is ramping
    once = vm.record_ramp_check(ramping, "1.1", started_at=T0, started=1, failed=0, at=T1)
    aborted = vm.abort_ramp(once, "1.1", started_at=T0, reason="lane unreachable", at=T2)
    assert vm.record_ramp_check(aborted, "1.1", started_at=T0, started=1, failed=0, at=T3) is aborted


def test_figures_that_make_no_sense_are_refused(ramping):
    with pytest.raises(IllegalTransition):
        vm.record_ramp_check(ramping, "1.1", started_at=T0, started=1, failed=2, at=T1)


def test_making_a_lane_current_ends_the_ramp(ramping):
    vmap = vm.set_current(ramping, "1.0", at=T1)
    assert vmap is not ramping and vmap.ramp.state is RampState.ABORTED
    assert "made lane 1.0 current" in vmap.ramp.reason


def test_closing_or_retiring_the_ramp_lane_ends_the_ramp(ramping):
    closed = vm.close(ramping, "1.1", at=T1)
    assert closed.ramp.state is RampState.ABORTED and closed.current == "1.0"
    with pytest.raises(IllegalTransition):
        vm.retire(ramping, "1.1", force=False, at=T1)
    retired = vm.retire(ramping, "1.1", force=True, at=T1)
    assert retired.ramp.state is RampState.ABORTED


def test_an_admin_ramp_needs_an_active_lane_other_than_the_current_one():
    vmap = provisioned(VersionMap(), "1.0.0")
    with pytest.raises(IllegalTransition):
        vm.start_ramp(vmap, "1.0", plan=PLAN, at=T1)
    vmap = provisioned(vmap, "1.1.0")  # 1.1 current, 1.0 draining
    with pytest.raises(IllegalTransition):
        vm.start_ramp(vmap, "1.0", plan=PLAN, at=T1)
    vmap = vm.set_current(vmap, "1.0", at=T1)  # rolled back: 1.1 active, not current
    ramped = vm.start_ramp(vmap, "1.1", plan=PLAN, at=T2)
    assert ramped.ramp.from_lane == "1.0" and ramped.ramp.started_at == T2
    assert vm.start_ramp(ramped, "1.1", plan=PLAN, at=T3) is ramped, "the same ramp asked again"
    with pytest.raises(IllegalTransition):
        vm.start_ramp(ramped, "1.1", plan=RampPlan((50, 100), 60, 0.1), at=T3)


def test_a_newer_release_with_a_ramp_replaces_a_running_ramp(ramping):
    vmap = provisioned(ramping, "1.2.0", ramp=PLAN)
    assert vmap.ramp.lane == "1.2" and vmap.ramp.from_lane == "1.0"
    assert vmap.lanes["1.1"].history[-1].event == "ramp_aborted"


def test_a_newer_release_without_a_ramp_ends_the_ramp_and_becomes_current(ramping):
    vmap = provisioned(ramping, "1.2.0")
    assert vmap.current == "1.2" and vmap.ramp.state is RampState.ABORTED
    assert vmap.lanes["1.0"].state is LaneState.DRAINING and vmap.lanes["1.1"].state is LaneState.DRAINING


def test_the_ramp_round_trips_through_the_entity_and_shows_in_the_view(ramping):
    state, result = apply_operation(ramping.to_dict(), "record_ramp_check",
                                    {"lane": "1.1", "started_at": T0, "started": 10, "failed": 0, "at": T1},
                                    max_lanes=10)
    assert result["ok"], result
    vmap = VersionMap.from_dict(state)
    assert VersionMap.from_dict(vmap.to_dict()) == vmap
    view = version_map_view(vmap, 10, T1)["ramp"]
    assert view == {
        "lane": "1.1", "fromLane": "1.0", "state": "running", "steps": [5, 25, 100], "stepSeconds": 600,
        "maxFailedRatio": 0.05, "step": 2, "share": 25, "startedAt": T0, "stepEndsAt": T2, "endedAt": None,
        "reason": None, "checks": [{"at": T1, "share": 5, "started": 10, "failed": 0, "ratio": 0.0}],
    }


def test_a_map_written_before_ramps_reads_without_one(ramping):
    data = provisioned(VersionMap(), "1.0.0").to_dict()
    assert "ramp" not in data
    assert VersionMap.from_dict(data).ramp is None
    assert version_map_view(VersionMap.from_dict(data), 10)["ramp"] is None


def test_the_entity_refuses_a_ramp_operation_without_its_plan(ramping):
    _, result = apply_operation(ramping.to_dict(), "start_ramp", {"lane": "1.1", "at": T1}, max_lanes=10)
    assert not result["ok"] and result["status"] == 400


# --- validation -----------------------------------------------------------------------------------

def test_a_valid_ramp_is_parsed():
    assert parse_ramp({"steps": [5, 25, 50, 100], "stepSeconds": 600, "maxFailedRatio": 0.05}) == \
        RampPlan((5, 25, 50, 100), 600, 0.05)
    assert parse_ramp({"steps": [100], "stepSeconds": 1, "maxFailedRatio": 0}).max_failed_ratio == 0.0


@pytest.mark.parametrize("ramp, field", [
    ([5, 100], "ramp"),
    ({"steps": [5, 100], "stepSeconds": 60}, "ramp.maxFailedRatio"),
    ({"steps": [5, 100], "stepSeconds": 60, "maxFailedRatio": 0.1, "extra": 1}, "ramp.extra"),
    ({"steps": [], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": "5,100", "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [0, 100], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [5, 101], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [5.5, 100], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [True, 100], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [25, 5, 100], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [5, 5, 100], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [5, 50], "stepSeconds": 60, "maxFailedRatio": 0.1}, "ramp.steps"),
    ({"steps": [5, 100], "stepSeconds": 0, "maxFailedRatio": 0.1}, "ramp.stepSeconds"),
    ({"steps": [5, 100], "stepSeconds": 1.5, "maxFailedRatio": 0.1}, "ramp.stepSeconds"),
    ({"steps": [5, 100], "stepSeconds": "600", "maxFailedRatio": 0.1}, "ramp.stepSeconds"),
    ({"steps": [5, 100], "stepSeconds": True, "maxFailedRatio": 0.1}, "ramp.stepSeconds"),
    ({"steps": [5, 100], "stepSeconds": 10**9, "maxFailedRatio": 0.1}, "ramp.stepSeconds"),
    ({"steps": [5, 100], "stepSeconds": 60, "maxFailedRatio": 1.5}, "ramp.maxFailedRatio"),
    ({"steps": [5, 100], "stepSeconds": 60, "maxFailedRatio": -0.1}, "ramp.maxFailedRatio"),
    ({"steps": [5, 100], "stepSeconds": 60, "maxFailedRatio": "0.1"}, "ramp.maxFailedRatio"),
    ({"steps": [5, 100], "stepSeconds": 60, "maxFailedRatio": False}, "ramp.maxFailedRatio"),
])
def test_a_bad_ramp_is_a_400_naming_its_field(ramp, field):
    with pytest.raises(BadRequest) as caught:
        parse_ramp(ramp)
    assert caught.value.status == 400
    assert caught.value.body()["field"] == field


def test_making_the_ramp_lane_current_completes_the_ramp_early_and_the_old_lane_drains(ramping):
    vmap = vm.set_current(ramping, "1.1", at=T1)
    assert vmap.current == "1.1" and vmap.ramp.state is RampState.COMPLETED
    assert vmap.ramp.reason == f"an administrator made lane 1.1 current at {ramping.ramp.share}%"
    assert vmap.lanes["1.0"].state is LaneState.DRAINING, "as when the last step passes"
    assert vmap.lanes["1.1"].history[-1].event == "ramp_completed"
