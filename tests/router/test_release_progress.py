"""`GET /api/releases/{id}`'s outcome, read from the lane's history (pure)."""

from dataclasses import replace
from datetime import datetime

from router import version_map as vm
from router.lanes import Lane, LaneEvent, LaneState, Release, VersionMap
from router.release_progress import release_progress

RELEASE = Release(version="1.0.0", package_url="https://packages.example/1.0.0.zip")
LAZY = Release(version="1.0.0", package_url="https://packages.example/1.0.0.zip", provision="lazy")
HANDED = {"version": "1.0.0", "lane": "1.0", "state": "handed_to_lane", "steps": []}


def lane(state: LaneState, *events: str) -> Lane:
    history = tuple(LaneEvent(at=f"2026-12-01T15:00:{i:02d}+00:00", event=event,
                              detail="package_error: 503" if event == "failed" else "",
                              release_id=RELEASE.id)
                    for i, event in enumerate(events))
    return Lane(key="1.0", state=state, release=RELEASE, history=history)


def test_a_failed_attempt_is_the_outcome_until_the_release_is_retried() -> None:
    failed = release_progress(RELEASE.id, HANDED, lane(LaneState.FAILED, "registered", "failed"))
    assert failed["state"] == "failed" and failed["error"]["error"] == "package_error"


def test_a_retried_release_is_running_not_failed_while_its_new_attempt_goes_on() -> None:
    # The previous attempt's `failed` stays in the history; the lifecycle's `retry` step ends it.
    progress = release_progress(RELEASE.id, HANDED,
                                lane(LaneState.PROVISIONING, "registered", "failed", "retry", "deployed"))
    assert progress["state"] == "running" and "error" not in progress
    assert [s["step"] for s in progress["steps"]] == ["registered", "failed", "retry", "deployed"]


def test_a_retried_release_ends_with_its_new_attempt() -> None:
    done = release_progress(RELEASE.id, HANDED,
                            lane(LaneState.ACTIVE, "registered", "failed", "retry", "activated"))
    assert done["state"] == "completed"
    failed_again = release_progress(RELEASE.id, HANDED,
                                    lane(LaneState.FAILED, "registered", "failed", "retry", "failed"))
    assert failed_again["state"] == "failed"


def test_steps_come_out_in_time_order_though_intake_and_lane_write_them_apart() -> None:
    # As GET /api/releases/{id} answered before: the lane's `registered` (stamped with the intake
    # episode's time by the entity call) came after the intake's later `handed_to_lane`.
    intake = {**HANDED, "steps": [
        {"step": "received", "at": "2026-12-01T16:09:21.836603+00:00"},
        {"step": "registered", "at": "2026-12-01T16:09:21.841228+00:00", "detail": "new_lane"},
        {"step": "handed_to_lane", "at": "2026-12-01T16:09:21.845900+00:00"},
    ]}
    history = (
        LaneEvent(at="2026-12-01T16:09:21.836603+00:00", event="registered", release_id=RELEASE.id),
        LaneEvent(at="2026-12-01T16:09:21.843731+00:00", event="reserved", release_id=RELEASE.id),
        LaneEvent(at="2026-12-01T16:09:22+00:00", event="app_created", release_id=RELEASE.id),
        LaneEvent(at="2026-12-01T16:09:24.228353+00:00", event="activated", release_id=RELEASE.id),
    )
    progress = release_progress(RELEASE.id, intake, Lane(key="1.0", state=LaneState.ACTIVE, release=RELEASE,
                                                         history=history))
    assert [s["step"] for s in progress["steps"]] == [
        "received", "registered", "registered", "reserved", "handed_to_lane", "app_created", "activated"]
    # `...:22+00:00` (isoformat drops zero microseconds) sorts after `...:21.84...`, not by its text.
    times = [datetime.fromisoformat(s["at"]) for s in progress["steps"]]
    assert times == sorted(times)


def test_a_lazy_release_waits_for_its_first_request_before_any_app_exists() -> None:
    waiting = Lane(key="1.0", state=LaneState.PROVISIONING, release=LAZY, started=False, history=(
        LaneEvent(at="2026-12-01T15:00:00+00:00", event="registered", release_id=LAZY.id),))
    assert release_progress(LAZY.id, HANDED, waiting)["state"] == "waiting_for_first_request"


def test_a_lazy_release_runs_once_its_first_request_started_the_lane_and_completes_when_it_serves() -> None:
    events = ("registered", "first_request", "reserved", "app_created")
    history = tuple(LaneEvent(at=f"2026-12-01T15:00:{i:02d}+00:00", event=e, release_id=LAZY.id)
                    for i, e in enumerate(events))
    starting = Lane(key="1.0", state=LaneState.PROVISIONING, release=LAZY, started=True, history=history)
    assert release_progress(LAZY.id, HANDED, starting)["state"] == "running"
    served = replace(starting, state=LaneState.ACTIVE, history=history + (
        LaneEvent(at="2026-12-01T15:01:00+00:00", event="activated", release_id=LAZY.id),))
    assert release_progress(LAZY.id, HANDED, served)["state"] == "completed"


def test_the_same_release_posted_after_its_lane_was_deleted_is_not_completed_by_the_old_activation() -> None:
    # The lane keeps its history across a deletion (version_map.register_release), and posting the
    # same release again keeps its id, so the first life's `activated` carries this release's id.
    first_life = ("registered", "reserved", "app_created", "activated", "superseded", "drained", "deleted")
    history = tuple(LaneEvent(at=f"2026-12-01T15:00:{i:02d}+00:00", event=e, release_id=LAZY.id)
                    for i, e in enumerate(first_life))
    again = history + (LaneEvent(at="2026-12-01T15:05:00+00:00", event="registered", release_id=LAZY.id),)
    lazy_again = Lane(key="1.0", state=LaneState.PROVISIONING, release=LAZY, started=False, history=again)
    assert release_progress(LAZY.id, HANDED, lazy_again)["state"] == "waiting_for_first_request"
    eager_again = replace(lazy_again, started=True)
    assert release_progress(LAZY.id, HANDED, eager_again)["state"] == "running"


def test_a_lazy_releases_steps_show_its_first_request_through_the_map_operations() -> None:
    vmap, _ = vm.register_release(VersionMap(), LAZY, max_lanes=2, at="2026-12-01T15:00:00+00:00")
    waiting = release_progress(LAZY.id, HANDED, vmap.lanes["1.0"])
    assert waiting["state"] == "waiting_for_first_request"
    started = vm.start_lazy_lane(vmap, "1.0", at="2026-12-01T15:05:00+00:00").lanes["1.0"]
    progress = release_progress(LAZY.id, HANDED, started)
    assert progress["state"] == "running" and progress["steps"][-1]["step"] == "first_request"
