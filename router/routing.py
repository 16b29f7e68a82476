"""The routing decision: which lane a start request goes to (SPEC 3 and 5).

`decide` is pure: the version map, the version the client asked for (or none) and the settings
in; a `Forward`, a `Hold` or a `RouterError` carrying the HTTP status and body out. While a ramp
runs, a version-less start goes to the ramp lane or the current one by `router.ramp` (its
instance id, else the caller's `draw`); a start that names a version is never ramped.
"""

from __future__ import annotations

from dataclasses import dataclass

import semver

from router.errors import BadVersion, LaneFailed, LaneGone, LaneUnhealthy, UnknownLane
from router.settings import Settings
from router.lanes import Lane, LaneState, VersionMap
from router.ramp import ramp_lane_serves, takes_ramp_lane
from router.validation import parse_json, requested_version_text
from router.versions import ACCEPTED_FORMS, lane_key, parse_version


@dataclass(frozen=True)
class Forward:
    """Forward the start to the lane's app now."""

    lane: str
    version: str  # the version deployed on the lane
    app_url: str
    draining: bool  # a start forwarded to a draining lane resets its drain grace period


@dataclass(frozen=True)
class Hold:
    """The lane is still provisioning: hold the request durably until it is active."""

    lane: str
    start_lazy_lane: bool  # the first request of a lazy lane also starts its provisioning


Decision = Forward | Hold


def decide(
    vmap: VersionMap, requested: semver.Version | None, settings: Settings, *,
    instance_id: str | None = None, draw: float = 100.0,
) -> Decision:
    """`draw`, in [0, 100), places a version-less start without an instance id during a ramp
    (the default, 100, never takes the ramp lane)."""
    if requested is None:
        if settings.require_version:
            raise BadVersion(
                f"The {settings.version_header} header (or ?version=) is required. "
                f"Accepted forms: {ACCEPTED_FORMS}.",
                accepted=ACCEPTED_FORMS,
            )
        if vmap.current is None:
            raise UnknownLane("No release is active yet.", knownLanes=vmap.known_lanes())
        key = _version_less_lane(vmap, instance_id, draw)
    else:
        key = lane_key(requested)
    lane = vmap.lanes.get(key)
    if lane is None:
        raise UnknownLane(
            f"No release was posted for lane {key} (version {requested}).",
            lane=key,
            knownLanes=vmap.known_lanes(),
        )
    return _decide_for_lane(vmap, lane, settings)


def _version_less_lane(vmap: VersionMap, instance_id: str | None, draw: float) -> str:
    assert vmap.current is not None
    ramp = vmap.running_ramp()
    if ramp is None or not ramp_lane_serves(vmap.lanes.get(ramp.lane)):
        return vmap.current
    return ramp.lane if takes_ramp_lane(ramp.share, instance_id, draw) else vmap.current


def _decide_for_lane(vmap: VersionMap, lane: Lane, settings: Settings) -> Decision:
    if lane.state is LaneState.PROVISIONING:
        return Hold(lane.key, start_lazy_lane=not lane.started)
    if lane.state is LaneState.FAILED:
        raise LaneFailed(
            f"Lane {lane.key} failed to provision: {lane.error}", lane=lane.key,
            cause=lane.error.code if lane.error else None, failure=lane.error.message if lane.error else None,
        )
    if lane.unhealthy is not None and lane.state in (LaneState.ACTIVE, LaneState.DRAINING):
        raise LaneUnhealthy(
            f"Lane {lane.key} stopped answering at {lane.unhealthy_since} and is being brought back: "
            f"{lane.unhealthy.message}",
            lane=lane.key, cause=lane.unhealthy.code, since=lane.unhealthy_since,
        )
    if lane.state in (LaneState.RETIRING, LaneState.DELETED):
        raise _gone(vmap, lane, f"Lane {lane.key} is {lane.state.value} and takes no new orchestrations.")
    if lane.state is LaneState.DRAINING:
        if lane.closed:
            raise _gone(vmap, lane, f"Lane {lane.key} was closed by an administrator.")
        if not settings.draining_lanes_accept_starts:
            raise _gone(vmap, lane, f"Lane {lane.key} is superseded and takes no new orchestrations.")
    assert lane.app_url is not None and lane.deployed_version is not None
    return Forward(
        lane=lane.key,
        version=lane.deployed_version,
        app_url=lane.app_url,
        draining=lane.state is LaneState.DRAINING,
    )


def _gone(vmap: VersionMap, lane: Lane, message: str) -> LaneGone:
    current = vmap.current_version()
    hint = f" The current version is {current}." if current else ""
    return LaneGone(message + hint, lane=lane.key, state=lane.state.value, currentVersion=current)


def requested_version(header_value: str | None, query_value: str | None, settings: Settings) -> semver.Version | None:
    """The version a request carries: the header wins over `?version=`; none at all is None.
    A header or `?version=` that is present but empty is a 400 naming it."""
    found = requested_version_text(header_value, settings.version_header, query_value)
    if found is None:
        return None
    text, field = found
    return parse_version(text, allow_prerelease=settings.allow_prerelease, field=field)


def check_body(body: bytes, settings: Settings) -> None:
    """A body sent on to a lane (a start's input, an event's data, a reason): JSON by
    validation.parse_json's rules (UTF-8, finite numbers), within the size limit, or empty."""
    if len(body) > settings.max_body_bytes or body.strip():
        parse_json(body, "body", limit=settings.max_body_bytes)
