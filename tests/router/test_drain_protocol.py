"""When a draining lane may retire (SPEC 3): the guarantees a stale routing cache relies on."""

import pytest

from router import version_map as vm
from router.errors import IllegalTransition
from router.version_map import LaneState, Release, VersionMap

CACHE, GRACE = 5, 30


def at(second: int) -> str:
    return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}+00:00"


@pytest.fixture
def draining() -> VersionMap:
    vmap = VersionMap()
    for version in ("1.0.0", "1.1.0"):
        lane = version[:3]
        vmap = vm.register_release(vmap, Release(version, f"/{version}.zip"), max_lanes=5, at=at(0))[0]
        vmap = vm.reserve_lane(vmap, lane, max_lanes=5, at=at(0))
        vmap = vm.record_app(vmap, lane, app_name=lane, app_url=f"http://{lane}", at=at(0))
        vmap = vm.activate(vmap, lane, version=version, at=at(0))
    assert vmap.lanes["1.0"].state is LaneState.DRAINING
    return vmap


def check(vmap: VersionMap, second: int, remaining: int = 0) -> VersionMap:
    return vm.record_drain_check(vmap, "1.0", remaining=remaining, oldest_created=None, at=at(second),
                                 cache_seconds=CACHE, grace_seconds=GRACE)


def test_two_empty_checks_further_apart_than_the_cache_lifetime_retire_the_lane(draining):
    vmap = check(draining, 100)
    assert vmap.lanes["1.0"].state is LaneState.DRAINING
    vmap = check(vmap, 100 + CACHE)  # not *more* than the cache lifetime apart
    assert vmap.lanes["1.0"].state is LaneState.DRAINING
    vmap = check(vmap, 100 + CACHE + 1)
    assert vmap.lanes["1.0"].state is LaneState.RETIRING


def test_an_instance_seen_in_between_starts_the_quiet_period_again(draining):
    vmap = check(check(check(draining, 100), 103, remaining=1), 107)
    assert vmap.lanes["1.0"].state is LaneState.DRAINING
    assert check(vmap, 113).lanes["1.0"].state is LaneState.RETIRING


def test_a_start_forwarded_within_the_grace_period_keeps_the_lane(draining):
    vmap = vm.record_forward(check(draining, 100), "1.0", at=at(101))
    vmap = check(check(vmap, 110), 120)
    assert vmap.lanes["1.0"].state is LaneState.DRAINING, "forwarded 19 s ago, grace is 30 s"
    assert check(check(vmap, 140), 146).lanes["1.0"].state is LaneState.RETIRING


def test_the_current_lane_never_drains_and_a_retiring_lane_takes_no_start(draining):
    rolled_back = vm.set_current(draining, "1.0", at=at(50))
    after = vm.record_drain_check(rolled_back, "1.0", remaining=0, oldest_created=None, at=at(60),
                                  cache_seconds=CACHE, grace_seconds=GRACE)
    assert after.lanes["1.0"].state is LaneState.ACTIVE
    retiring = check(check(draining, 100), 110)
    assert vm.record_forward(retiring, "1.0", at=at(111)) is retiring
    with pytest.raises(IllegalTransition):
        vm.mark_deleted(draining, "1.0", at=at(120))  # only a retiring lane is deleted
