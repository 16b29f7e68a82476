"""The routing decision for every outcome of SPEC 5's start endpoint."""

import pytest

from router import version_map as vm
from router.errors import BadRequest, BadVersion, LaneFailed, LaneGone, PayloadTooLarge, UnknownLane
from router.routing import Forward, Hold, check_body, decide, requested_version
from router.settings import Settings
from router.map_view import version_map_view
from router.version_map import LaneState, Release, VersionMap
from router.versions import parse_version

T = "2026-01-01T00:00:00+00:00"
SETTINGS = Settings()


def released(vmap: VersionMap, version: str, *, lazy: bool = False) -> VersionMap:
    release = Release(version, f"https://builds.example.com/{version}.zip", provision="lazy" if lazy else "eager")
    return vm.register_release(vmap, release, max_lanes=10, at=T)[0]


def provisioned(vmap: VersionMap, version: str) -> VersionMap:
    lane = version.rsplit(".", 1)[0]
    vmap = released(vmap, version)
    vmap = vm.reserve_lane(vmap, lane, max_lanes=10, at=T)
    vmap = vm.record_app(vmap, lane, app_name=f"app-{lane}", app_url=f"http://lane-{lane}", at=T)
    return vm.activate(vmap, lane, version=version, at=T)


@pytest.fixture
def two_lanes() -> VersionMap:
    """1.0 draining (superseded), 1.1 active and current."""
    return provisioned(provisioned(VersionMap(), "1.0.1"), "1.1.0")


def test_the_patch_is_ignored(two_lanes):
    for version in ("1.0.0", "1.0.1", "1.0.9"):
        decision = decide(two_lanes, parse_version(version), SETTINGS)
        assert decision == Forward(lane="1.0", version="1.0.1", app_url="http://lane-1.0", draining=True)


def test_no_version_goes_to_the_current_lane(two_lanes):
    assert decide(two_lanes, None, SETTINGS).lane == "1.1"


def test_no_version_is_a_400_when_required(two_lanes):
    with pytest.raises(BadVersion) as caught:
        decide(two_lanes, None, Settings(require_version=True))
    assert caught.value.status == 400
    assert "X-App-Version" in caught.value.message


def test_unknown_lane_is_a_404_listing_known_lanes(two_lanes):
    with pytest.raises(UnknownLane) as caught:
        decide(two_lanes, parse_version("2.0.0"), SETTINGS)
    assert caught.value.status == 404
    assert caught.value.body()["error"] == "unknown_lane"
    assert caught.value.body()["knownLanes"] == ["1.0", "1.1"]


def test_no_release_at_all_is_a_404():
    with pytest.raises(UnknownLane):
        decide(VersionMap(), None, SETTINGS)


def test_a_provisioning_lane_holds_the_request():
    vmap = provisioned(VersionMap(), "1.0.0")
    vmap = released(vmap, "1.1.0")
    assert decide(vmap, parse_version("1.1.3"), SETTINGS) == Hold("1.1", start_lazy_lane=False)


def test_the_first_request_of_a_lazy_lane_starts_it():
    vmap = released(VersionMap(), "1.0.0", lazy=True)
    assert decide(vmap, parse_version("1.0.0"), SETTINGS) == Hold("1.0", start_lazy_lane=True)
    vmap = vm.start_lazy_lane(vmap, "1.0", at=T)
    assert decide(vmap, parse_version("1.0.0"), SETTINGS) == Hold("1.0", start_lazy_lane=False)


def test_a_closed_lane_is_a_410_naming_the_current_version(two_lanes):
    closed = vm.close(two_lanes, "1.0", at=T)
    with pytest.raises(LaneGone) as caught:
        decide(closed, parse_version("1.0.0"), SETTINGS)
    assert caught.value.status == 410
    assert caught.value.body()["currentVersion"] == "1.1.0"
    assert "1.1.0" in caught.value.message


def test_draining_lanes_can_refuse_starts(two_lanes):
    with pytest.raises(LaneGone):
        decide(two_lanes, parse_version("1.0.0"), Settings(draining_lanes_accept_starts=False))


@pytest.mark.parametrize("final_state", [LaneState.RETIRING, LaneState.DELETED])
def test_retiring_and_deleted_lanes_are_410(two_lanes, final_state):
    vmap = vm.retire(two_lanes, "1.0", force=True, at=T)
    if final_state is LaneState.DELETED:
        vmap = vm.mark_deleted(vmap, "1.0", at=T)
    with pytest.raises(LaneGone) as caught:
        decide(vmap, parse_version("1.0.2"), SETTINGS)
    assert caught.value.body()["state"] == final_state.value


def test_a_failed_lane_is_a_503_with_the_failure():
    vmap = released(VersionMap(), "1.0.0")
    vmap = vm.fail(vmap, "1.0", code="package_error", message="package sha256 mismatch", app_exists=False, at=T)
    with pytest.raises(LaneFailed) as caught:
        decide(vmap, parse_version("1.0.0"), SETTINGS)
    assert caught.value.status == 503
    assert caught.value.body()["cause"] == "package_error"
    assert caught.value.body()["failure"] == "package sha256 mismatch"


def test_rollback_makes_the_old_lane_current_and_serving(two_lanes):
    vmap = vm.set_current(two_lanes, "1.0", at=T)
    assert decide(vmap, None, SETTINGS) == Forward("1.0", "1.0.1", "http://lane-1.0", draining=False)
    assert vmap.lanes["1.1"].state is LaneState.ACTIVE


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [("1.2.3", None, "1.2.3"), (None, "v1.4", "1.4.0"), ("2.0", "1.0", "2.0.0"), (None, None, None)],
)
def test_the_header_wins_over_the_query(header, query, expected):
    version = requested_version(header, query, SETTINGS)
    assert (None if version is None else str(version)) == expected


@pytest.mark.parametrize(
    ("header", "query", "field"),
    [("", None, "X-App-Version"), ("  ", None, "X-App-Version"), (None, "", "version"), ("1.0", "", "version"),
     ("", "1.0", "X-App-Version")],
)
def test_a_present_but_empty_version_is_a_400_naming_where_it_was(header, query, field):
    """Only an absent version means "the current lane": an empty one is a client's bug."""
    with pytest.raises(BadVersion) as caught:
        requested_version(header, query, SETTINGS)
    assert caught.value.body()["field"] == field


def test_a_bad_header_is_a_400():
    with pytest.raises(BadVersion):
        requested_version("latest", None, SETTINGS)


def test_bodies_over_the_limit_are_413():
    with pytest.raises(PayloadTooLarge) as caught:
        check_body(b"[" + b"1," * 20 + b"1]", Settings(max_body_bytes=16))
    assert caught.value.status == 413
    assert caught.value.body()["limit"] == 16


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe"])
def test_bodies_that_are_not_json_are_400(body):
    with pytest.raises(BadRequest):
        check_body(body, SETTINGS)


@pytest.mark.parametrize("body", [b"", b"  ", b"null", b'{"order": 1}', b'"text"'])
def test_json_or_empty_bodies_are_accepted(body):
    check_body(body, SETTINGS)


def test_the_admin_view_shows_what_holds_a_draining_lane(two_lanes):
    vmap = vm.record_drain_check(two_lanes, "1.0", remaining=3, oldest_created="2026-01-01T00:00:00+00:00",
                                 at="2026-01-01T01:00:00+00:00", cache_seconds=5, grace_seconds=10)
    view = version_map_view(vmap, max_lanes=10, now="2026-01-01T02:00:00+00:00")
    assert view["lanes"]["1.0"]["drain"]["remaining"] == 3
    assert view["lanes"]["1.0"]["drain"]["oldestAgeSeconds"] == 7200.0
    assert view["quota"] == {"used": 2, "limit": 10}
    assert view["current"] == "1.1" and view["currentVersion"] == "1.1.0"
