"""The version-map entity's operations: names, JSON arguments and results (pure).

The entity is the single writer of routing state. Each operation parses its JSON arguments,
applies one state-machine step from `version_map`, and answers a JSON result: `{"ok": true,
"value": ...}` or `{"ok": false, "status": n, "error": {...}}`. Errors are returned rather than
raised so callers (orchestrators, HTTP) keep the typed code and status across the entity boundary.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable

from router import version_map as vm
from router.errors import BadRequest, RouterError, error_from_body
from router.lanes import Release, VersionMap, lane_to_dict, plan_from_dict

Args = dict[str, Any]
Operation = Callable[[VersionMap, Args, int], tuple[VersionMap, Any]]


def _register_release(vmap: VersionMap, args: Args, max_lanes: int) -> tuple[VersionMap, Any]:
    release = Release(**args["release"])
    vmap, outcome = vm.register_release(vmap, release, max_lanes=max_lanes, at=args["at"])
    return vmap, asdict(outcome)


def _lane_op(operation: Callable[..., VersionMap], *names: str, quota: bool = False) -> Operation:
    """An operation on one lane: its JSON arguments `names` become keyword arguments (a missing
    one takes the operation's default, or is refused as a bad argument when it has none)."""

    def apply(vmap: VersionMap, args: Args, max_lanes: int) -> tuple[VersionMap, Any]:
        kwargs = {name: args[name] for name in names if name in args}
        if quota:
            kwargs["max_lanes"] = max_lanes
        new_map = operation(vmap, args["lane"], at=args["at"], **kwargs)
        return new_map, lane_to_dict(new_map.lanes[args["lane"]])

    return apply


def _get(vmap: VersionMap, args: Args, max_lanes: int) -> tuple[VersionMap, Any]:
    return vmap, vmap.to_dict()


def _activate(vmap: VersionMap, key: str, *, ramp: dict[str, Any] | None = None, **kwargs: Any) -> VersionMap:
    return vm.activate(vmap, key, ramp=plan_from_dict(ramp) if ramp else None, **kwargs)


def _start_ramp(vmap: VersionMap, key: str, *, ramp: dict[str, Any], at: str) -> VersionMap:
    return vm.start_ramp(vmap, key, plan=plan_from_dict(ramp), at=at)


def _ramp_op(operation: Callable[..., VersionMap], *names: str) -> Operation:
    """A ramp operation: it may change which lane is current and drain another, so it answers
    the whole map."""
    lane_op = _lane_op(operation, *names)

    def apply(vmap: VersionMap, args: Args, max_lanes: int) -> tuple[VersionMap, Any]:
        new_map, _ = lane_op(vmap, args, max_lanes)
        return new_map, new_map.to_dict()

    return apply


OPERATIONS: dict[str, Operation] = {
    "get": _get,
    "register_release": _register_release,
    "start_lazy_lane": _lane_op(vm.start_lazy_lane),
    "reserve_lane": _lane_op(vm.reserve_lane, quota=True),
    "record_app": _lane_op(vm.record_app, "app_name", "app_url"),
    "record_progress": _lane_op(vm.record_progress, "step", "detail", "release_id"),
    "activate": _lane_op(_activate, "version", "release_id", "ramp"),
    "deploy_patch": _lane_op(vm.deploy_patch, "version", "release_id"),
    "record_deploy_error": _lane_op(vm.record_deploy_error, "code", "message", "release_id"),
    "record_delete_error": _lane_op(vm.record_delete_error, "code", "message"),
    "fail": _lane_op(vm.fail, "code", "message", "app_exists", "release_id"),
    "hold_request": _lane_op(vm.hold_request, "held_id"),
    "release_held": _lane_op(vm.release_held, "held_ids"),
    "mark_unhealthy": _lane_op(vm.mark_unhealthy, "code", "message"),
    "mark_healthy": _lane_op(vm.mark_healthy),
    "close": _lane_op(vm.close),
    "record_forward": _lane_op(vm.record_forward),
    "record_drain_check": _lane_op(
        vm.record_drain_check, "remaining", "oldest_created", "cache_seconds", "grace_seconds"
    ),
    "retire": _lane_op(vm.retire, "force"),
    "mark_deleted": _lane_op(vm.mark_deleted),
    "set_current": _lane_op(vm.set_current),
    "start_ramp": _ramp_op(_start_ramp, "ramp"),
    "record_ramp_check": _ramp_op(vm.record_ramp_check, "started_at", "started", "failed"),
    "abort_ramp": _ramp_op(vm.abort_ramp, "started_at", "reason"),
}


def apply_operation(
    state: dict[str, Any] | None, operation: str, args: Args | None, *, max_lanes: int
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Apply one named operation to the entity's JSON state: (new state, result)."""
    vmap = VersionMap.from_dict(state)
    try:
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise BadRequest(f"Unknown version-map operation '{operation}'.", operations=sorted(OPERATIONS))
        new_map, value = handler(vmap, dict(args or {}), max_lanes)
    except RouterError as error:
        return state, failure(error)
    except (KeyError, TypeError, ValueError) as error:
        return state, failure(BadRequest(f"Bad arguments for version-map operation '{operation}': {error!r}."))
    return (state if new_map is vmap else new_map.to_dict()), {"ok": True, "value": value}


def failure(error: RouterError) -> dict[str, Any]:
    """A refusal as a value, so its status and code cross a durable boundary intact."""
    return {"ok": False, "status": error.status, "error": error.body(), "retryable": error.retryable}


def raise_for_result(result: dict[str, Any]) -> Any:
    """Turn an operation's result back into its value or the typed RouterError it carried."""
    if result.get("ok"):
        return result.get("value")
    raise error_from_body(int(result.get("status", 500)), dict(result.get("error") or {}))
