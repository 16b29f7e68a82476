"""The version map: every lane, its state and history, and which lane is current (SPEC 3).

Pure state machine, no I/O and no Azure: each operation takes the map and returns a new one,
or raises a typed `RouterError` and leaves the map untouched. The version-map entity applies
these operations; routing reads the map. Times are ISO-8601 strings passed in by the caller
(an orchestrator's `current_utc_datetime`), never read from the clock here.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from router.errors import (
    IllegalTransition,
    NotFound,
    QuotaReached,
    UnknownLane,
    VersionNotNewer,
)
from router.versions import lane_key, lane_sort_key, parse_version


class LaneState(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    DRAINING = "draining"
    RETIRING = "retiring"
    DELETED = "deleted"
    FAILED = "failed"


ROUTABLE = frozenset({LaneState.PROVISIONING, LaneState.ACTIVE, LaneState.DRAINING})
ProvisionMode = Literal["eager", "lazy"]


@dataclass(frozen=True)
class Release:
    """A build posted by a release pipeline. The package URL is not a secret."""

    version: str
    package_url: str
    sha256: str = ""
    provision: ProvisionMode = "eager"


@dataclass(frozen=True)
class DrainStatus:
    """What the drain monitor last saw on a draining lane."""

    remaining: int = 0
    oldest_created: str | None = None
    checked_at: str | None = None
    zero_since: str | None = None  # first of the current run of checks that saw nothing in flight


@dataclass(frozen=True)
class LaneEvent:
    at: str
    event: str
    detail: str = ""


@dataclass(frozen=True)
class Lane:
    key: str
    state: LaneState
    release: Release  # the release deployed, or being provisioned / deployed
    deployed_version: str | None = None
    app_name: str | None = None
    app_url: str | None = None
    app_exists: bool = False  # counted against the quota
    started: bool = True  # False for a lazy lane whose lifecycle waits for its first request
    closed: bool = False
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    last_forward_at: str | None = None
    drain: DrainStatus = DrainStatus()
    history: tuple[LaneEvent, ...] = ()


@dataclass(frozen=True)
class VersionMap:
    lanes: dict[str, Lane] = field(default_factory=dict)
    current: str | None = None

    # --- reading -----------------------------------------------------------------------------

    def lane(self, key: str) -> Lane:
        try:
            return self.lanes[key]
        except KeyError:
            raise UnknownLane(
                f"No release was posted for lane {key}.", lane=key, knownLanes=self.known_lanes()
            ) from None

    def known_lanes(self) -> list[str]:
        return sorted(self.lanes, key=lane_sort_key)

    def quota_used(self) -> int:
        return sum(1 for lane in self.lanes.values() if lane.app_exists)

    def current_version(self) -> str | None:
        if self.current is None:
            return None
        return self.lanes[self.current].deployed_version

    # --- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "lanes": {k: lane_to_dict(v) for k, v in self.lanes.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "VersionMap":
        if not data:
            return cls()
        return cls(
            lanes={k: lane_from_dict(v) for k, v in data.get("lanes", {}).items()},
            current=data.get("current"),
        )

    def view(self, max_lanes: int, now: str | None = None) -> dict[str, Any]:
        """The admin view (GET /api/versionmap): everything but nothing secret.

        For a draining lane, `drain.oldestAgeSeconds` tells what holds it alive: an eternal
        orchestration shows up as an ever-growing age (a reason to force-retire).
        """
        lanes = {}
        for key in self.known_lanes():
            lane = lane_to_dict(self.lanes[key])
            lane["current"] = key == self.current
            oldest = self.lanes[key].drain.oldest_created
            if now and oldest:
                lane["drain"]["oldestAgeSeconds"] = round(_seconds_between(oldest, now), 1)
            lanes[key] = lane
        return {
            "current": self.current,
            "currentVersion": self.current_version(),
            "quota": {"used": self.quota_used(), "limit": max_lanes},
            "lanes": lanes,
        }


# --- operations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReleaseOutcome:
    """What registering a release means for its lane."""

    lane: str
    kind: Literal["new_lane", "patch", "retry_failed", "same"]


def register_release(
    vmap: VersionMap, release: Release, *, max_lanes: int, at: str
) -> tuple[VersionMap, ReleaseOutcome]:
    """Record a posted release: a new lane, a patch for an existing lane, or a failed lane's retry.

    A patch never creates a lane. Posting exactly the release already recorded is a no-op.
    """
    version = parse_version(release.version, allow_prerelease=True)
    key = lane_key(version)
    existing = vmap.lanes.get(key)

    if existing is None or existing.state is LaneState.DELETED:
        _check_quota(vmap, max_lanes, key)
        lane = Lane(
            key=key,
            state=LaneState.PROVISIONING,
            release=release,
            started=release.provision == "eager",
            created_at=at,
            updated_at=at,
            history=(existing.history if existing else ())
            + (LaneEvent(at, "registered", f"{release.version} ({release.provision})"),),
        )
        return _with_lane(vmap, lane), ReleaseOutcome(key, "new_lane")

    if existing.release == release:
        return vmap, ReleaseOutcome(key, "same")

    if existing.state is LaneState.FAILED:
        if not existing.app_exists:
            _check_quota(vmap, max_lanes, key)
        lane = _step(existing, LaneState.PROVISIONING, at, "retry", release.version)
        lane = replace(lane, release=release, error=None, started=True)
        return _with_lane(vmap, lane), ReleaseOutcome(key, "retry_failed")

    if existing.state not in (LaneState.ACTIVE, LaneState.DRAINING, LaneState.PROVISIONING):
        raise IllegalTransition(
            f"Lane {key} is {existing.state}; it takes no new release.", lane=key, state=existing.state
        )
    newest = existing.release.version
    if existing.deployed_version and parse_version(existing.deployed_version, allow_prerelease=True) > parse_version(newest, allow_prerelease=True):
        newest = existing.deployed_version
    if version <= parse_version(newest, allow_prerelease=True):
        raise VersionNotNewer(
            f"Version {release.version} is not newer than {newest} on lane {key}.",
            lane=key,
            version=release.version,
            deployedVersion=newest,
        )
    lane = replace(existing, release=release, updated_at=at)
    lane = _log(lane, at, "patch_registered", release.version)
    return _with_lane(vmap, lane), ReleaseOutcome(key, "patch")


def start_lazy_lane(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """A lazy lane got its first request: its lifecycle may now create the app."""
    lane = vmap.lane(key)
    if lane.started:
        return vmap
    _require(lane, (LaneState.PROVISIONING,), "start")
    return _with_lane(vmap, _log(replace(lane, started=True, updated_at=at), at, "first_request"))


def reserve_lane(vmap: VersionMap, key: str, *, max_lanes: int, at: str) -> VersionMap:
    """Count the lane's app against the quota before it is created (idempotent)."""
    lane = vmap.lane(key)
    _require(lane, (LaneState.PROVISIONING,), "reserve")
    if lane.app_exists:
        return vmap
    _check_quota(vmap, max_lanes, key)
    return _with_lane(vmap, _log(replace(lane, app_exists=True, updated_at=at), at, "reserved"))


def record_app(vmap: VersionMap, key: str, *, app_name: str, app_url: str, at: str) -> VersionMap:
    lane = vmap.lane(key)
    _require(lane, (LaneState.PROVISIONING, LaneState.ACTIVE, LaneState.DRAINING), "record app")
    if lane.app_name == app_name and lane.app_url == app_url:
        return vmap
    lane = replace(lane, app_name=app_name, app_url=app_url, app_exists=True, updated_at=at)
    return _with_lane(vmap, _log(lane, at, "app_created", app_name))


def activate(vmap: VersionMap, key: str, *, version: str, at: str) -> VersionMap:
    """A provisioned lane serves: the newest active lane becomes current, older ones drain."""
    lane = vmap.lane(key)
    if lane.state is LaneState.ACTIVE and lane.deployed_version == version:
        return vmap
    _require(lane, (LaneState.PROVISIONING,), "activate")
    lane = replace(_step(lane, LaneState.ACTIVE, at, "activated", version), deployed_version=version, error=None)
    lanes = dict(vmap.lanes)
    lanes[key] = lane
    newer_active = [
        k for k, v in lanes.items()
        if v.state is LaneState.ACTIVE and lane_sort_key(k) > lane_sort_key(key)
    ]
    if newer_active:
        # Activated late (a retried old lane): it is superseded from the start.
        lanes[key] = _step(lane, LaneState.DRAINING, at, "superseded", max(newer_active, key=lane_sort_key))
        return VersionMap(lanes=lanes, current=vmap.current)
    for other_key, other in lanes.items():
        if other.state is LaneState.ACTIVE and lane_sort_key(other_key) < lane_sort_key(key):
            lanes[other_key] = replace(
                _step(other, LaneState.DRAINING, at, "superseded", key), drain=DrainStatus()
            )
    return VersionMap(lanes=lanes, current=key)


def deploy_patch(vmap: VersionMap, key: str, *, version: str, at: str) -> VersionMap:
    """A patch of the lane was deployed in place."""
    lane = vmap.lane(key)
    _require(lane, (LaneState.ACTIVE, LaneState.DRAINING), "deploy a patch to")
    if lane.deployed_version == version:
        return vmap
    if lane_key(parse_version(version, allow_prerelease=True)) != key:
        raise IllegalTransition(f"Version {version} does not belong to lane {key}.", lane=key)
    lane = replace(lane, deployed_version=version, updated_at=at)
    return _with_lane(vmap, _log(lane, at, "patched", version))


def fail(vmap: VersionMap, key: str, *, error: str, app_exists: bool, at: str) -> VersionMap:
    """Provisioning or deployment failed after retries; the error is kept."""
    lane = vmap.lane(key)
    if lane.state is LaneState.FAILED:
        return vmap
    _require(lane, (LaneState.PROVISIONING,), "fail")
    lane = replace(_step(lane, LaneState.FAILED, at, "failed", error), error=error, app_exists=app_exists)
    return _with_lane(vmap, lane)


def record_deploy_error(vmap: VersionMap, key: str, *, error: str, at: str) -> VersionMap:
    """A patch failed to deploy on a serving lane: the lane keeps serving the old patch."""
    lane = vmap.lane(key)
    return _with_lane(vmap, _log(replace(lane, error=error, updated_at=at), at, "patch_failed", error))


def close(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """An admin stops new starts on a superseded lane (410); in-flight instances go on."""
    lane = vmap.lane(key)
    if lane.closed:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(
            f"Lane {key} is current; make another lane current before closing it.", lane=key
        )
    _require(lane, (LaneState.ACTIVE, LaneState.DRAINING), "close")
    lane = replace(lane, closed=True, updated_at=at)
    if lane.state is LaneState.ACTIVE:
        lane = replace(_step(lane, LaneState.DRAINING, at, "closed"), drain=DrainStatus())
    else:
        lane = _log(lane, at, "closed")
    return _with_lane(vmap, lane)


def record_forward(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """A start was forwarded to a draining lane: it resets the drain grace period."""
    lane = vmap.lanes.get(key)
    if lane is None or lane.state is not LaneState.DRAINING:
        return vmap
    if lane.last_forward_at and lane.last_forward_at >= at:
        return vmap
    return _with_lane(vmap, replace(lane, last_forward_at=at, drain=replace(lane.drain, zero_since=None)))


def record_drain_check(
    vmap: VersionMap,
    key: str,
    *,
    remaining: int,
    oldest_created: str | None,
    at: str,
    cache_seconds: float,
    grace_seconds: float,
) -> VersionMap:
    """The drain monitor counted in-flight instances; the lane retires once it is safely empty.

    Retiring needs two checks that saw nothing in flight, separated by more than the routing
    cache lifetime (so no router worker can still hold a map that routes here), and no start
    forwarded within the grace period.
    """
    lane = vmap.lane(key)
    if lane.state is not LaneState.DRAINING:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(f"Lane {key} is current; it does not drain.", lane=key)
    if remaining > 0:
        drain = DrainStatus(remaining, oldest_created, at, None)
        return _with_lane(vmap, replace(lane, drain=drain))
    zero_since = lane.drain.zero_since or at
    drain = DrainStatus(0, None, at, zero_since)
    lane = replace(lane, drain=drain)
    quiet_long_enough = _seconds_between(zero_since, at) > cache_seconds
    no_recent_forward = lane.last_forward_at is None or _seconds_between(lane.last_forward_at, at) > grace_seconds
    if quiet_long_enough and no_recent_forward:
        lane = _step(lane, LaneState.RETIRING, at, "drained")
    return _with_lane(vmap, lane)


def retire(vmap: VersionMap, key: str, *, force: bool, at: str) -> VersionMap:
    """An admin retires a lane now; with force even while instances are in flight (logged)."""
    lane = vmap.lane(key)
    if lane.state is LaneState.RETIRING:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(
            f"Lane {key} is current; make another lane current before retiring it.", lane=key
        )
    _require(lane, (LaneState.DRAINING, LaneState.ACTIVE, LaneState.FAILED), "retire")
    if not force and (lane.drain.remaining > 0 or lane.drain.checked_at is None):
        raise IllegalTransition(
            f"Lane {key} may still have instances in flight ({lane.drain.remaining} at the last check); "
            "use force=true to retire it anyway.",
            lane=key,
            remaining=lane.drain.remaining,
        )
    lane = _step(lane, LaneState.RETIRING, at, "forced_retire" if force else "retire",
                 f"{lane.drain.remaining} in flight" if force else "")
    return _with_lane(vmap, replace(lane, closed=True))


def mark_deleted(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """The lane's app is gone; the lane stays in the map's history."""
    lane = vmap.lane(key)
    if lane.state is LaneState.DELETED:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(f"Lane {key} is current; it cannot be deleted.", lane=key)
    _require(lane, (LaneState.RETIRING, LaneState.FAILED), "delete")
    lane = replace(_step(lane, LaneState.DELETED, at, "deleted"), app_exists=False)
    return _with_lane(vmap, lane)


def set_current(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """Make a still-serving lane current (rollback); a draining one becomes active again."""
    lane = vmap.lane(key)
    if key == vmap.current:
        return vmap
    _require(lane, (LaneState.ACTIVE, LaneState.DRAINING), "make current")
    if lane.deployed_version is None:
        raise IllegalTransition(f"Lane {key} has no deployed version yet.", lane=key)
    lane = replace(lane, closed=False, drain=DrainStatus())
    if lane.state is LaneState.DRAINING:
        lane = _step(lane, LaneState.ACTIVE, at, "made_current")
    else:
        lane = _log(lane, at, "made_current")
    return VersionMap(lanes={**vmap.lanes, key: lane}, current=key)


# --- helpers --------------------------------------------------------------------------------

def _check_quota(vmap: VersionMap, max_lanes: int, key: str) -> None:
    used = vmap.quota_used()
    if used >= max_lanes:
        raise QuotaReached(
            f"Lane {key} would exceed the lane quota: {used} of {max_lanes} lanes have an app "
            "(ROUTER_MAX_LANES). Retire a lane first.",
            lane=key,
            used=used,
            limit=max_lanes,
        )


def _require(lane: Lane, states: tuple[LaneState, ...], action: str) -> None:
    if lane.state not in states:
        allowed = ", ".join(s.value for s in states)
        raise IllegalTransition(
            f"Cannot {action} lane {lane.key}: it is {lane.state.value} (allowed from: {allowed}).",
            lane=lane.key,
            state=lane.state.value,
        )


def _step(lane: Lane, state: LaneState, at: str, event: str, detail: str = "") -> Lane:
    return _log(replace(lane, state=state, updated_at=at), at, event, detail)


def _log(lane: Lane, at: str, event: str, detail: str = "") -> Lane:
    return replace(lane, history=lane.history + (LaneEvent(at, event, detail),))


def _with_lane(vmap: VersionMap, lane: Lane) -> VersionMap:
    return VersionMap(lanes={**vmap.lanes, lane.key: lane}, current=vmap.current)


def _seconds_between(earlier: str, later: str) -> float:
    return (_parse_time(later) - _parse_time(earlier)).total_seconds()


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lane_to_dict(lane: Lane) -> dict[str, Any]:
    data = asdict(lane)
    data["state"] = lane.state.value
    data["history"] = [asdict(e) for e in lane.history]
    return data


def lane_from_dict(data: dict[str, Any]) -> Lane:
    data = copy.deepcopy(data)
    data.pop("current", None)
    return Lane(
        **{
            **data,
            "state": LaneState(data["state"]),
            "release": Release(**data["release"]),
            "drain": DrainStatus(**data.get("drain") or {}),
            "history": tuple(LaneEvent(**e) for e in data.get("history", ())),
        }
    )


def find_release(vmap: VersionMap, key: str) -> Release:
    lane = vmap.lanes.get(key)
    if lane is None:
        raise NotFound(f"No release for lane {key}.", lane=key)
    return lane.release
