"""What `GET /api/releases/{id}` answers: a release's steps and outcome (pure).

The release orchestration records what intake did (received, registered or rejected, handed to
the lane); everything after that is the lane's story in the version map, each event tagged with
the release it belongs to. The outcome is read from there, so it lives in one place.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from router.errors import error_from_body
from router.lanes import Lane, LaneEvent, LaneState, Ramp
from router.map_view import ramp_view

SUCCEEDED = frozenset({"activated", "patched"})
FAILED = frozenset({"failed", "patch_failed"})
RETRY = "retry"  # the lane lifecycle's step when a failed release is posted again
REGISTERED = "registered"  # the map's step when a release (re)creates its lane
# Steps that begin a new attempt of the release: an outcome recorded before one of them belongs to
# an earlier attempt (a failure being retried, or a lane deleted since and released again).
ATTEMPT_STARTS = frozenset({RETRY, REGISTERED})


def release_progress(release_id: str, intake: dict[str, Any], lane: Lane | None,
                     ramp: Ramp | None = None) -> dict[str, Any]:
    """`intake` is the release orchestration's status (custom status or output); `ramp` the map's
    latest ramp, shown (as in GET /api/versionmap) when this release's activation started it. The
    ramp's steps (ramp_started, ramp_advanced, ramp_completed, ramp_aborted) are the lane's, tagged
    with the release, so they are among the steps even once a later ramp replaced it in the map.
    `state` stays the lane's outcome (completed at activation): a ramp's end is its own."""
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
    if ramp is not None and ramp.release_id == release_id and ramp.lane == lane.key:
        progress["ramp"] = ramp_view(ramp)
    events = [e for e in lane.history if e.release_id == release_id]
    lane_steps = [{"step": e.event, "at": e.at, **({"detail": e.detail} if e.detail else {})} for e in events]
    # Stable: a tie keeps the intake's step first (its `received` and the lane's `registered`
    # share the intake episode's time).
    progress["steps"] = sorted(progress["steps"] + lane_steps, key=_step_time)
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
        progress["state"] = "waiting_for_first_request"  # a lazy lane: no app until a start asks
    else:
        progress["state"] = "running"
    return progress


def _step_time(step: dict[str, Any]) -> datetime:
    """A step's time as a datetime: isoformat drops the microseconds when they are 0, so the
    strings alone do not sort."""
    at = datetime.fromisoformat(step["at"])
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _latest_outcome(events: list[LaneEvent]) -> LaneEvent | None:
    """The outcome of the release's latest attempt: a `retry` or `registered` step starts a new
    attempt, so an outcome recorded before it (the failure being retried, or the activation of a
    lane since deleted and now released again) no longer counts."""
    for event in reversed(events):
        if event.event in ATTEMPT_STARTS:
            return None
        if event.event in SUCCEEDED | FAILED:
            return event
    return None
