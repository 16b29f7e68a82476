"""`GET /api/releases/{id}`'s outcome, read from the lane's history (pure)."""

from router.lanes import Lane, LaneEvent, LaneState, Release
from router.release_progress import release_progress

RELEASE = Release(version="1.0.0", package_url="https://packages.example/1.0.0.zip")
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
