"""What `GET /api/releases/{id}` answers: a release's steps and outcome (pure).

The release orchestration records what intake did (received, registered or rejected, handed to
the lane); everything after that is the lane's story in the version map, each event tagged with
the release it belongs to. The outcome is read from there, so it lives in one place.
"""

from __future__ import annotations

from typing import Any

from router.errors import error_from_body
from router.lanes import Lane, LaneEvent, LaneState

SUCCEEDED = frozenset({"activated", "patched"})
FAILED = frozenset({"failed", "patch_failed"})
RETRY = "retry"  # the lane lifecycle's step when a failed release is posted again


def release_progress(release_id: str, intake: dict[str, Any], lane: Lane | None) -> dict[str, Any]:
    """`intake` is the release orchestration's status (custom status or output)."""
    progress: dict[str, Any] = {
        "id": release_id,
        "version": intake.get("version"),
        "lane": intake.get("lane"),
        "state": intake.get("state", "running"),
        "steps": list(intake.get("steps") or []),
    }
    if "error" in intake:
        progress["error"] = intake["error"]
    if progress["state"] != "handed_to_lane" or lane is None:
        return progress
    events = [e for e in lane.history if e.release_id == release_id]
    progress["steps"] += [{"step": e.event, "at": e.at, **({"detail": e.detail} if e.detail else {})}
                          for e in events]
    outcome = _latest_outcome(events)
    if outcome is not None and outcome.event in SUCCEEDED:
        progress["state"] = "completed"
    elif outcome is not None:
        progress["state"] = "failed"
        code, _, message = outcome.detail.partition(": ")
        progress["error"] = error_from_body(500, {"error": code, "message": message or outcome.detail}).body()
    elif lane.release.id != release_id:
        progress["state"] = "superseded"  # a newer release of the lane took over before this one ended
    elif lane.state is LaneState.PROVISIONING and not lane.started:
        progress["state"] = "waiting_for_first_request"
    else:
        progress["state"] = "running"
    return progress


def _latest_outcome(events: list[LaneEvent]) -> LaneEvent | None:
    """The outcome of the release's latest attempt: a `retry` step starts a new attempt, so an
    outcome recorded before it (the failure being retried) no longer counts."""
    for event in reversed(events):
        if event.event == RETRY:
            return None
        if event.event in SUCCEEDED | FAILED:
            return event
    return None
