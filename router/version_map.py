"""The version map's state machine (SPEC 3): every lane, its state and which lane is current.

Pure: each operation takes the map and returns a new one, or raises a typed `RouterError` and
leaves the map untouched. The version-map entity applies these operations; routing reads the
map. Times are ISO-8601 strings passed in by the caller (an orchestrator's
`current_utc_datetime`), never read from the clock here. Which operation may start from which
lane state is written once, in `ALLOWED_FROM`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from router.errors import IllegalTransition, QuotaReached, VersionNotNewer
from router.lanes import (  # noqa: F401  (ROUTABLE: the states routing may send to)
    MAX_LANE_EVENTS,
    MAX_RAMP_CHECKS,
    ROUTABLE,
    DrainStatus,
    Lane,
    LaneEvent,
    LaneFault,
    LaneState,
    Ramp,
    RampCheck,
    RampPlan,
    RampState,
    Release,
    VersionMap,
)
from router.ramp import step_outcome
from router.versions import lane_key, lane_sort_key, parse_version

P, A, D, R, X, F = (
    LaneState.PROVISIONING, LaneState.ACTIVE, LaneState.DRAINING, LaneState.RETIRING, LaneState.DELETED,
    LaneState.FAILED,
)

# The one transition table: the lane states each operation may start from.
ALLOWED_FROM: dict[str, frozenset[LaneState]] = {
    "start": frozenset({P}),
    "reserve": frozenset({P}),
    "record app": frozenset({P, A, D}),
    "activate": frozenset({P}),
    "deploy a patch to": frozenset({A, D}),
    "fail": frozenset({P}),
    "close": frozenset({A, D}),
    "retire": frozenset({D, A, F}),
    "record a deletion error on": frozenset({R}),
    "delete": frozenset({R, F}),
    "make current": frozenset({A, D}),
    "mark unhealthy": frozenset({A, D}),
    "register a patch for": frozenset({A, D, P}),
    "ramp onto": frozenset({A}),
}


@dataclass(frozen=True)
class ReleaseOutcome:
    """What registering a release means for its lane."""

    lane: str
    kind: Literal["new_lane", "patch", "retry_failed", "same"]


def register_release(
    vmap: VersionMap, release: Release, *, max_lanes: int, at: str
) -> tuple[VersionMap, ReleaseOutcome]:
    """Record a posted release: a new lane, a patch for an existing lane, or a failed lane's retry.

    A patch never creates a lane. Posting exactly the release already recorded is a no-op,
    except on a failed lane, where it is the way to retry a transient failure.
    """
    release = release.shown()  # the map never keeps a package URL's secret
    version = parse_version(release.version, allow_prerelease=True)
    key = lane_key(version)
    existing = vmap.lanes.get(key)

    floor = _floor(existing)
    if floor is not None and version < parse_version(floor, allow_prerelease=True):
        raise VersionNotNewer(
            f"Version {release.version} is older than {floor}, which lane {key} has served; "
            "a release never goes backwards.",
            lane=key, version=release.version, deployedVersion=floor,
        )

    if existing is None or existing.state is LaneState.DELETED:
        _check_quota(vmap, max_lanes, key)
        lane = Lane(
            key=key,
            state=LaneState.PROVISIONING,
            release=release,
            started=release.provision == "eager",
            created_at=at,
            updated_at=at,
            served_version=floor,
            history=existing.history if existing else (),
        )
        lane = _log(lane, at, "registered", f"{release.version} ({release.provision})", release.id)
        return _with_lane(vmap, lane), ReleaseOutcome(key, "new_lane")

    if existing.state is LaneState.FAILED:
        if not existing.app_exists:
            _check_quota(vmap, max_lanes, key)
        lane = replace(existing, release=release, error=None, started=True)
        lane = _step(lane, LaneState.PROVISIONING, at, "retry", release.version, release.id)
        return _with_lane(vmap, lane), ReleaseOutcome(key, "retry_failed")

    if existing.release == release:
        return vmap, ReleaseOutcome(key, "same")

    _require(existing, "register a patch for")
    newest = existing.release.version
    if existing.deployed_version and _newer(existing.deployed_version, newest):
        newest = existing.deployed_version
    if version <= parse_version(newest, allow_prerelease=True):
        raise VersionNotNewer(
            f"Version {release.version} is not newer than {newest} on lane {key}.",
            lane=key,
            version=release.version,
            deployedVersion=newest,
        )
    lane = _log(replace(existing, release=release, updated_at=at), at, "patch_registered", release.version,
                release.id)
    return _with_lane(vmap, lane), ReleaseOutcome(key, "patch")


def start_lazy_lane(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """A lazy lane got its first request: its lifecycle may now create the app."""
    lane = vmap.lane(key)
    if lane.started:
        return vmap
    _require(lane, "start")
    # Tagged with the release, so the release's own steps show when its lane was asked for.
    return _with_lane(vmap, _log(replace(lane, started=True, updated_at=at), at, "first_request",
                                 release_id=lane.release.id))


def reserve_lane(vmap: VersionMap, key: str, *, max_lanes: int, at: str) -> VersionMap:
    """Count the lane's app against the quota before it is created (idempotent)."""
    lane = vmap.lane(key)
    _require(lane, "reserve")
    if lane.app_exists:
        return vmap
    _check_quota(vmap, max_lanes, key)
    return _with_lane(vmap, _log(replace(lane, app_exists=True, updated_at=at), at, "reserved",
                                 release_id=lane.release.id))


def record_app(vmap: VersionMap, key: str, *, app_name: str, app_url: str, at: str) -> VersionMap:
    lane = vmap.lane(key)
    _require(lane, "record app")
    if lane.app_name == app_name and lane.app_url == app_url:
        return vmap
    lane = replace(lane, app_name=app_name, app_url=app_url, app_exists=True, updated_at=at)
    return _with_lane(vmap, _log(lane, at, "app_created", app_name, lane.release.id))


def record_progress(
    vmap: VersionMap, key: str, *, step: str, detail: str, release_id: str = "", at: str
) -> VersionMap:
    """A step of a release being provisioned or deployed (configured, deployed, healthy...)."""
    lane = vmap.lane(key)
    return _with_lane(vmap, _log(lane, at, step, detail, release_id or lane.release.id))


def activate(
    vmap: VersionMap, key: str, *, version: str, release_id: str = "", ramp: RampPlan | None = None, at: str
) -> VersionMap:
    """A provisioned lane serves: the newest active lane becomes current, older ones drain.

    With a ramp, a lane activated beside a current one takes version-less starts step by step
    instead (`start_ramp`); the current lane stays current and nothing drains until it completes.
    """
    lane = vmap.lane(key)
    if lane.state is LaneState.ACTIVE and lane.deployed_version == version:
        return vmap
    _require(lane, "activate")
    lane = replace(_step(lane, LaneState.ACTIVE, at, "activated", version, release_id or lane.release.id),
                   deployed_version=version, served_version=_newest(lane.served_version, version), error=None)
    lanes = dict(vmap.lanes)
    lanes[key] = lane
    newer_active = [
        k for k, v in lanes.items()
        if v.state is LaneState.ACTIVE and lane_sort_key(k) > lane_sort_key(key)
    ]
    if newer_active:
        # Activated late (a retried old lane): it is superseded from the start.
        lanes[key] = _step(lane, LaneState.DRAINING, at, "superseded", max(newer_active, key=lane_sort_key))
        return replace(vmap, lanes=lanes)
    if ramp is not None and vmap.current is not None and vmap.current != key:
        # A newer ramp replaces one still running: the newest release is the one being tried.
        ramped = _end_ramp(replace(vmap, lanes=lanes), RampState.ABORTED, f"lane {key} activated with a ramp", at)
        return start_ramp(ramped, key, plan=ramp, at=at, release_id=release_id or lane.release.id)
    lanes = _superseded_by(lanes, key, vmap.current, at)
    return _end_ramp(replace(vmap, lanes=lanes, current=key), RampState.ABORTED, f"lane {key} activated", at)


def _superseded_by(lanes: dict[str, Lane], key: str, previous: str | None, at: str) -> dict[str, Lane]:
    """Lane `key` became current: the previous current lane and every older active lane drain."""
    lanes = dict(lanes)
    for other_key, other in lanes.items():
        older = lane_sort_key(other_key) < lane_sort_key(key)
        if other_key != key and other.state is LaneState.ACTIVE and (older or other_key == previous):
            lanes[other_key] = replace(_step(other, LaneState.DRAINING, at, "superseded", key), drain=DrainStatus())
    return lanes


def deploy_patch(vmap: VersionMap, key: str, *, version: str, release_id: str = "", at: str) -> VersionMap:
    """A patch of the lane was deployed in place."""
    lane = vmap.lane(key)
    _require(lane, "deploy a patch to")
    if lane.deployed_version == version:
        return vmap
    if lane_key(parse_version(version, allow_prerelease=True)) != key:
        raise IllegalTransition(f"Version {version} does not belong to lane {key}.", lane=key)
    lane = replace(lane, deployed_version=version, served_version=_newest(lane.served_version, version),
                   error=None, updated_at=at)
    return _with_lane(vmap, _log(lane, at, "patched", version, release_id or lane.release.id))


def fail(
    vmap: VersionMap, key: str, *, code: str, message: str, app_exists: bool, release_id: str = "", at: str
) -> VersionMap:
    """Provisioning or deployment failed after retries; the error and its code are kept."""
    lane = vmap.lane(key)
    if lane.state is LaneState.FAILED:
        return vmap
    _require(lane, "fail")
    lane = _step(lane, LaneState.FAILED, at, "failed", f"{code}: {message}", release_id or lane.release.id)
    return _with_lane(vmap, replace(lane, error=LaneFault(code, message), app_exists=app_exists))


def record_deploy_error(
    vmap: VersionMap, key: str, *, code: str, message: str, release_id: str = "", at: str
) -> VersionMap:
    """A patch failed to deploy on a serving lane: the lane keeps serving the old patch."""
    lane = replace(vmap.lane(key), error=LaneFault(code, message), updated_at=at)
    return _with_lane(vmap, _log(lane, at, "patch_failed", f"{code}: {message}",
                                 release_id or lane.release.id))


def record_delete_error(vmap: VersionMap, key: str, *, code: str, message: str, at: str) -> VersionMap:
    """Deleting a retiring lane's app failed: it stays retiring (and counted) with the error shown."""
    lane = vmap.lane(key)
    _require(lane, "record a deletion error on")
    lane = replace(lane, error=LaneFault(code, message), updated_at=at)
    return _with_lane(vmap, _log(lane, at, "delete_failed", f"{code}: {message}"))


def hold_request(vmap: VersionMap, key: str, *, held_id: str, at: str) -> VersionMap:
    """A held start waits for the lane: its lifecycle wakes it when the lane serves or fails.

    Only a lane that is provisioning or unhealthy takes waiters; otherwise the caller decides at once.
    """
    lane = vmap.lane(key)
    if not lane.awaited or held_id in lane.held:
        return vmap
    return _with_lane(vmap, replace(lane, held=lane.held + (held_id,)))


def release_held(vmap: VersionMap, key: str, *, held_ids: list[str], at: str) -> VersionMap:
    """The lane's lifecycle woke these held requests (or one gave up waiting)."""
    lane = vmap.lane(key)
    remaining = tuple(h for h in lane.held if h not in set(held_ids))
    if remaining == lane.held:
        return vmap
    return _with_lane(vmap, replace(lane, held=remaining))


def mark_unhealthy(vmap: VersionMap, key: str, *, code: str, message: str, at: str) -> VersionMap:
    """The lane's app stopped answering: a condition on top of its state, kept with the reason."""
    lane = vmap.lane(key)
    _require(lane, "mark unhealthy")
    fault = LaneFault(code, message)
    if lane.unhealthy == fault:
        return vmap
    first = lane.unhealthy is None
    lane = replace(lane, unhealthy=fault, unhealthy_since=lane.unhealthy_since or at, updated_at=at)
    return _with_lane(vmap, _log(lane, at, "unhealthy", f"{code}: {message}") if first else lane)


def mark_healthy(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """The lane's app answers again: it is back in its state."""
    lane = vmap.lane(key)
    if lane.unhealthy is None:
        return vmap
    detail = f"unhealthy since {lane.unhealthy_since}"
    return _with_lane(vmap, _log(replace(lane, unhealthy=None, unhealthy_since=None, updated_at=at), at, "recovered",
                                 detail))


def close(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """An admin stops new starts on a superseded lane (410); in-flight instances go on."""
    lane = vmap.lane(key)
    if lane.closed:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(
            f"Lane {key} is current; make another lane current before closing it.", lane=key
        )
    _require(lane, "close")
    vmap = _end_ramp_onto(vmap, key, "closed by an administrator", at)
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
    quiet_long_enough = seconds_between(zero_since, at) > cache_seconds
    no_recent_forward = lane.last_forward_at is None or seconds_between(lane.last_forward_at, at) > grace_seconds
    if quiet_long_enough and no_recent_forward:
        lane = _step(lane, LaneState.RETIRING, at, "drained")
    return _with_lane(vmap, lane)


def retire(vmap: VersionMap, key: str, *, force: bool, at: str) -> VersionMap:
    """An admin retires a lane now; with force even while instances are in flight (logged).

    Retiring a lane that is already retiring changes nothing here: its lifecycle, woken by the
    command, tries again to delete an app whose deletion failed.
    """
    lane = vmap.lane(key)
    if lane.state is LaneState.RETIRING:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(
            f"Lane {key} is current; make another lane current before retiring it.", lane=key
        )
    _require(lane, "retire")
    if not force and key == _ramp_lane(vmap):
        raise IllegalTransition(f"Lane {key} is taking part of the version-less starts in a running ramp; "
                                "use force=true to end the ramp and retire it.", lane=key)
    if not force and (lane.drain.remaining > 0 or lane.drain.checked_at is None):
        raise IllegalTransition(
            f"Lane {key} may still have instances in flight ({lane.drain.remaining} at the last check); "
            "use force=true to retire it anyway.",
            lane=key,
            remaining=lane.drain.remaining,
        )
    lane = _step(lane, LaneState.RETIRING, at, "forced_retire" if force else "retire",
                 f"{lane.drain.remaining} in flight" if force else "")
    vmap = _end_ramp_onto(vmap, key, "retired by an administrator", at)
    return _with_lane(vmap, replace(lane, closed=True, forced_retire=force))


def mark_deleted(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """The lane's app is gone; the lane stays in the map's history."""
    lane = vmap.lane(key)
    if lane.state is LaneState.DELETED:
        return vmap
    if key == vmap.current:
        raise IllegalTransition(f"Lane {key} is current; it cannot be deleted.", lane=key)
    _require(lane, "delete")
    lane = replace(_step(lane, LaneState.DELETED, at, "deleted"), app_exists=False, error=None, held=(),
                   unhealthy=None, unhealthy_since=None)
    return _with_lane(vmap, lane)


def set_current(vmap: VersionMap, key: str, *, at: str) -> VersionMap:
    """Make a still-serving lane current (rollback); a draining one becomes active again. It ends a
    running ramp: making the current lane current again is how an admin stops one."""
    lane = vmap.lane(key)
    if key == vmap.current:
        return _end_ramp(vmap, RampState.ABORTED, f"an administrator made lane {key} current", at)
    ramp = vmap.running_ramp()
    if ramp is not None and ramp.lane == key:
        # Promoting the ramp's own lane finishes the ramp early, as if its last step had passed.
        return _complete_ramp(vmap, ramp, f"an administrator made lane {key} current at {ramp.share}%", at)
    _require(lane, "make current")
    if lane.deployed_version is None:
        raise IllegalTransition(f"Lane {key} has no deployed version yet.", lane=key)
    lane = replace(lane, closed=False, drain=DrainStatus())
    if lane.state is LaneState.DRAINING:
        lane = _step(lane, LaneState.ACTIVE, at, "made_current")
    else:
        lane = _log(lane, at, "made_current")
    vmap = _end_ramp(vmap, RampState.ABORTED, f"an administrator made lane {key} current", at)
    return replace(vmap, lanes={**vmap.lanes, key: lane}, current=key)


# --- progressive ramps ----------------------------------------------------------------------

def start_ramp(vmap: VersionMap, key: str, *, plan: RampPlan, at: str, release_id: str = "") -> VersionMap:
    """Version-less starts go to active lane `key` in the plan's first share, the rest to the
    current lane, until the ramp's checks complete or abort it. The same ramp asked for again
    changes nothing; another one is refused while it runs."""
    lane = vmap.lane(key)
    running = vmap.running_ramp()
    if running is not None:
        if running.lane == key and running.plan == plan:
            return vmap
        raise IllegalTransition(
            f"A ramp onto lane {running.lane} is running (step {running.step + 1} of {len(running.plan.steps)}); "
            f"make a lane current to end it first.", lane=key, rampLane=running.lane)
    _require(lane, "ramp onto")
    if vmap.current is None:
        raise IllegalTransition("No lane is current, so there is nothing to ramp from; make the lane current.",
                                lane=key)
    if key == vmap.current:
        raise IllegalTransition(f"Lane {key} is already current.", lane=key)
    ramp = Ramp(lane=key, from_lane=vmap.current, plan=plan, started_at=at,
                step_ends_at=_plus_seconds(at, plan.step_seconds), release_id=release_id)
    steps = ", ".join(f"{share}%" for share in plan.steps)
    lane = _log(replace(lane, updated_at=at), at, "ramp_started",
                f"{steps}, {plan.step_seconds} s each, from lane {vmap.current}", release_id)
    return replace(_with_lane(vmap, lane), ramp=ramp)


def record_ramp_check(
    vmap: VersionMap, key: str, *, started_at: str, started: int, failed: int, at: str
) -> VersionMap:
    """A step of the ramp onto `key` ended and the lane's orchestrations since the ramp began were
    counted: advance, complete (the lane becomes current, the one it ramped from drains) or abort
    (the previous lane stays current). A ramp that already ended, or a step already checked,
    changes nothing."""
    ramp = vmap.running_ramp()
    if ramp is None or ramp.lane != key or ramp.started_at != started_at or len(ramp.checks) > ramp.step:
        return vmap
    if started < 0 or failed < 0 or failed > started:
        raise IllegalTransition(f"A ramp check of {failed} failed out of {started} makes no sense.", lane=key)
    check = RampCheck(at, ramp.share, started, failed)
    ramp = replace(ramp, checks=(ramp.checks + (check,))[-MAX_RAMP_CHECKS:])
    lane = vmap.lane(key)
    if lane.state is not LaneState.ACTIVE:
        return _end_ramp(replace(vmap, ramp=ramp), RampState.ABORTED, f"lane {key} is {lane.state.value}", at)
    outcome = step_outcome(ramp, check)
    if outcome.kind == "abort":
        return _end_ramp(replace(vmap, ramp=ramp), RampState.ABORTED, outcome.reason, at)
    if outcome.kind == "complete":
        return _complete_ramp(replace(vmap, ramp=ramp), ramp, outcome.reason, at)
    advanced = replace(ramp, step=ramp.step + 1, step_ends_at=_plus_seconds(at, ramp.plan.step_seconds))
    lane = _log(lane, at, "ramp_advanced", f"{advanced.share}% ({failed} of {started} failed so far)",
                ramp.release_id)
    return replace(_with_lane(vmap, lane), ramp=advanced)


def _complete_ramp(vmap: VersionMap, ramp: Ramp, reason: str, at: str) -> VersionMap:
    """The ramp's lane becomes current; only now does the lane it ramped from (and any older) drain."""
    key = ramp.lane
    ended = replace(ramp, state=RampState.COMPLETED, ended_at=at, reason=reason)
    lanes = {**vmap.lanes, key: _log(replace(vmap.lanes[key], updated_at=at), at, "ramp_completed", reason,
                                     ramp.release_id)}
    if vmap.current is not None and vmap.current != key:
        lanes = _superseded_by(lanes, key, vmap.current, at)
    return VersionMap(lanes=lanes, current=key, ramp=ended)


def abort_ramp(vmap: VersionMap, key: str, *, started_at: str, reason: str, at: str) -> VersionMap:
    """End the ramp onto `key` (its failures could not be counted, say): the previous lane stays current."""
    ramp = vmap.running_ramp()
    if ramp is None or ramp.lane != key or ramp.started_at != started_at:
        return vmap
    return _end_ramp(vmap, RampState.ABORTED, reason, at)


def _ramp_lane(vmap: VersionMap) -> str | None:
    ramp = vmap.running_ramp()
    return ramp.lane if ramp else None


def _end_ramp_onto(vmap: VersionMap, key: str, why: str, at: str) -> VersionMap:
    if _ramp_lane(vmap) != key:
        return vmap
    return _end_ramp(vmap, RampState.ABORTED, f"lane {key} {why}", at)


def _end_ramp(vmap: VersionMap, state: RampState, reason: str, at: str) -> VersionMap:
    """End the running ramp, if any, noting why on its lane; routing no longer splits."""
    ramp = vmap.running_ramp()
    if ramp is None:
        return vmap
    ended = replace(ramp, state=state, ended_at=at, reason=reason)
    lane = vmap.lanes.get(ramp.lane)
    if lane is not None:
        vmap = _with_lane(vmap, _log(lane, at, f"ramp_{state.value}", reason, ramp.release_id))
    return replace(vmap, ramp=ended)


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


def _require(lane: Lane, action: str) -> None:
    states = ALLOWED_FROM[action]
    if lane.state not in states:
        allowed = ", ".join(sorted(s.value for s in states))
        raise IllegalTransition(
            f"Cannot {action} lane {lane.key}: it is {lane.state.value} (allowed from: {allowed}).",
            lane=lane.key,
            state=lane.state.value,
        )


def _floor(lane: Lane | None) -> str | None:
    """The lowest version a release of this lane may have: the newest it has served."""
    if lane is None:
        return None
    return _newest(lane.served_version, lane.deployed_version)


def _newest(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if _newer(a, b) else b


def _newer(a: str, b: str) -> bool:
    return parse_version(a, allow_prerelease=True) > parse_version(b, allow_prerelease=True)


def _step(lane: Lane, state: LaneState, at: str, event: str, detail: str = "", release_id: str = "") -> Lane:
    return _log(replace(lane, state=state, updated_at=at), at, event, detail, release_id)


def _log(lane: Lane, at: str, event: str, detail: str = "", release_id: str = "") -> Lane:
    history = (lane.history + (LaneEvent(at, event, detail, release_id),))[-MAX_LANE_EVENTS:]
    return replace(lane, history=history)


def _with_lane(vmap: VersionMap, lane: Lane) -> VersionMap:
    return replace(vmap, lanes={**vmap.lanes, lane.key: lane})


def _plus_seconds(at: str, seconds: float) -> str:
    return (_parse_time(at) + timedelta(seconds=seconds)).isoformat()


def seconds_between(earlier: str, later: str) -> float:
    return (_parse_time(later) - _parse_time(earlier)).total_seconds()


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
