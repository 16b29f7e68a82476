"""The admin view of the version map (`GET /api/versionmap`): everything, nothing secret (pure)."""

from __future__ import annotations

from typing import Any

from router.lanes import Ramp, RampState, VersionMap, lane_to_dict
from router.version_map import seconds_between


def version_map_view(vmap: VersionMap, max_lanes: int, now: str | None = None) -> dict[str, Any]:
    """For a draining lane, `drain.oldestAgeSeconds` tells what holds it alive: an eternal
    orchestration shows up as an ever-growing age (a reason to force-retire)."""
    lanes = {}
    for key in vmap.known_lanes():
        lane = lane_to_dict(vmap.lanes[key])
        lane["current"] = key == vmap.current
        oldest = vmap.lanes[key].drain.oldest_created
        if now and oldest:
            lane["drain"]["oldestAgeSeconds"] = round(seconds_between(oldest, now), 1)
        lanes[key] = lane
    return {
        "current": vmap.current,
        "currentVersion": vmap.current_version(),
        "quota": {"used": vmap.quota_used(), "limit": max_lanes},
        "lanes": lanes,
        "ramp": ramp_view(vmap.ramp) if vmap.ramp else None,
    }


def ramp_view(ramp: Ramp) -> dict[str, Any]:
    """The latest ramp: where it stands, and the failure figures each step's check saw."""
    return {
        "lane": ramp.lane,
        "fromLane": ramp.from_lane,
        "state": ramp.state.value,
        "steps": list(ramp.plan.steps),
        "stepSeconds": ramp.plan.step_seconds,
        "maxFailedRatio": ramp.plan.max_failed_ratio,
        "step": ramp.step + 1,  # 1-based, as a person counts steps
        "share": ramp.share,
        "startedAt": ramp.started_at,
        "stepEndsAt": ramp.step_ends_at if ramp.state is RampState.RUNNING else None,
        "endedAt": ramp.ended_at,
        "reason": ramp.reason or None,
        "checks": [{"at": c.at, "share": c.share, "started": c.started, "failed": c.failed,
                    "ratio": round(c.ratio, 4)} for c in ramp.checks],
    }
