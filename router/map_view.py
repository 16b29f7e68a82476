"""The admin view of the version map (`GET /api/versionmap`): everything, nothing secret (pure)."""

from __future__ import annotations

from typing import Any

from router.lanes import VersionMap, lane_to_dict
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
    }
