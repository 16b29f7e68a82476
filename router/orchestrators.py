"""The router's orchestrations (SPEC 4): lane lifecycle, release, held request, map command.

They replay, so they only decide through pure code and act through activities and the
version-map entity. Time comes from `context.current_utc_datetime`, ids from `new_uuid`; the
settings they need travel in their input. Each loop iteration ends in `continue_as_new`, which
keeps histories bounded however long a lane lives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generator

import azure.durable_functions as df

from router.durable_inputs import (
    HeldRequestInput,
    LaneCommand,
    LifecycleInput,
    ReleaseInput,
    Timing,
    add_step,
    lifecycle_instance_id,
)
from router.entity import VERSION_MAP_ID
from router.errors import RouterError
from router.map_operations import raise_for_result
from router.versions import lane_task_hub

bp = df.Blueprint()

Orchestration = Generator[Any, Any, Any]

# Events the lane lifecycle listens to.
RELEASE_EVENT = "release"  # a patch (or a failed lane's retry) to deploy
WAKE_EVENT = "wake"  # look at the version map now rather than at the next poll
LANE_RESULT_EVENT = "lane_result"  # lifecycle -> release orchestration: how the release went


def _now(context: df.DurableOrchestrationContext) -> str:
    return context.current_utc_datetime.isoformat()


def _after(context: df.DurableOrchestrationContext, seconds: float) -> datetime:
    return context.current_utc_datetime + timedelta(seconds=seconds)


def map_op(context: df.DurableOrchestrationContext, operation: str, **args: Any) -> Orchestration:
    """Call one version-map operation; its typed RouterError is raised here on refusal."""
    result = yield context.call_entity(VERSION_MAP_ID, operation, {"at": _now(context), **args})
    return raise_for_result(result)


def _retry(times: dict[str, Any]) -> df.RetryOptions:
    return df.RetryOptions(int(times.get("activity_retry_ms", 2000)), int(times.get("activity_attempts", 3)))


def _error_text(error: Exception) -> str:
    if isinstance(error, RouterError):
        return error.message
    # Activity failures arrive as "<reason> \n <details>"; the first line is the message.
    return str(error).strip().splitlines()[0][:500] if str(error).strip() else type(error).__name__


# --- lane lifecycle -----------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="lane_lifecycle")
def lane_lifecycle(context: df.DurableOrchestrationContext) -> Orchestration:
    """Owns a lane's app from birth to deletion; one instance per lane (`lane-lifecycle-<lane>`)."""
    state = LifecycleInput.from_dict(context.get_input())
    context.set_custom_status(_lifecycle_status(state))
    if state.phase == "provision":
        yield from _provision(context, state)
    elif state.phase == "failed":
        yield from _wait_for_retry(context, state)
    elif state.phase == "watch":
        yield from _watch(context, state)
    elif state.phase == "retire":
        return (yield from _retire(context, state))
    context.set_custom_status(_lifecycle_status(state))
    if state.phase == "done":
        return {"lane": state.lane, "deleted": True}
    context.continue_as_new(state.to_dict())
    return None


def _lifecycle_status(state: LifecycleInput) -> dict[str, Any]:
    return {
        "lane": state.lane,
        "phase": state.phase,
        "releaseId": state.release_id,
        "version": (state.release or {}).get("version"),
        "steps": state.steps,
    }


def _step(context: df.DurableOrchestrationContext, state: LifecycleInput, step: str, detail: str = "") -> None:
    state.steps = add_step(state.steps, step, _now(context), detail)
    context.set_custom_status(_lifecycle_status(state))


def _provision(context: df.DurableOrchestrationContext, state: LifecycleInput) -> Orchestration:
    release = state.release or {}
    spec = {"lane": state.lane, "version": release.get("version", ""), "task_hub": lane_task_hub(state.lane)}
    retry = _retry(state.timing)
    try:
        yield from map_op(context, "reserve_lane", lane=state.lane)
        _step(context, state, "reserved", "lane quota checked")
        state.app = yield context.call_activity_with_retry("create_app", retry, spec)
        yield from map_op(
            context, "record_app", lane=state.lane, app_name=state.app["name"], app_url=state.app["base_url"]
        )
        _step(context, state, "app_created", state.app["name"])
        yield context.call_activity_with_retry("configure_app", retry, {"lane": spec, "app": state.app})
        _step(context, state, "configured", f"task hub {spec['task_hub']}")
        yield from _deploy(context, state, spec, release)
        yield from map_op(context, "activate", lane=state.lane, version=spec["version"])
        _step(context, state, "activated", spec["version"])
        state.phase = "watch"
    except Exception as error:  # an activity failed after its retries, or the map refused
        message = _error_text(error)
        _step(context, state, "failed", message)
        yield from map_op(
            context, "fail", lane=state.lane, error=message, app_exists=state.app is not None
        )
        state.phase = "failed"
        yield from _notify_release(context, state, ok=False, error=message)
        return
    yield from _notify_release(context, state, ok=True)


def _deploy(
    context: df.DurableOrchestrationContext, state: LifecycleInput, spec: dict[str, Any], release: dict[str, Any]
) -> Orchestration:
    """Deploy the package, check the key is readable, wait until the app is healthy."""
    retry = _retry(state.timing)
    package = {"url": release.get("package_url", ""), "sha256": release.get("sha256") or None}
    yield context.call_activity_with_retry(
        "deploy_package", retry, {"lane": spec, "app": state.app, "package": package}
    )
    _step(context, state, "deployed", spec["version"])
    yield context.call_activity_with_retry("verify_system_key", retry, {"app": state.app})
    _step(context, state, "key_read", "durabletask_extension system key readable")
    times = state.times
    detail = ""
    for _ in range(max(1, times.health_attempts)):
        health = yield context.call_activity("check_health", {"app": state.app})
        if health.get("healthy"):
            _step(context, state, "healthy", health.get("detail", ""))
            return
        detail = health.get("detail", "")
        yield context.create_timer(_after(context, times.health_interval_seconds))
    raise RouterError(f"the app did not become healthy: {detail}")


def _notify_release(
    context: df.DurableOrchestrationContext, state: LifecycleInput, *, ok: bool, error: str = ""
) -> Orchestration:
    if not state.release_id:
        return
    result = {"ok": ok, "lane": state.lane, "version": (state.release or {}).get("version"), "error": error,
              "steps": state.steps}
    yield context.call_activity_with_retry(
        "notify_release", _retry(state.timing), {"release_id": state.release_id, "result": result}
    )
    state.release_id = None


def _wait_for_retry(context: df.DurableOrchestrationContext, state: LifecycleInput) -> Orchestration:
    """A failed lane waits for a new release of the lane, which retries provisioning."""
    command = yield context.wait_for_external_event(RELEASE_EVENT)
    command = LaneCommand.from_dict(command)
    state.release, state.release_id = command.release, command.release_id
    state.timing = command.timing or state.timing
    state.phase = "provision"
    state.steps = []
    _step(context, state, "retry", (state.release or {}).get("version", ""))


def _watch(context: df.DurableOrchestrationContext, state: LifecycleInput) -> Orchestration:
    """Serve: deploy patches; once superseded, count in-flight instances until the lane is empty."""
    times = state.times
    counts = None
    vmap = yield from map_op(context, "get")
    lane = (vmap.get("lanes") or {}).get(state.lane)
    if lane is None or lane["state"] == "deleted":
        state.phase = "done"
        return
    if lane["state"] == "retiring":
        state.phase, state.forced = "retire", _was_forced(lane)
        _step(context, state, "retiring", "forced by an administrator" if state.forced else "drained")
        return
    if lane["state"] == "draining" and vmap.get("current") != state.lane:
        try:
            counts = yield context.call_activity_with_retry("count_in_flight", _retry(state.timing), {"app": state.app})
        except Exception as error:  # the lane did not answer: it stays draining, try at the next poll
            _step(context, state, "drain_check_failed", _error_text(error))
            counts = None
    if counts is not None:
        lane = yield from map_op(
            context,
            "record_drain_check",
            lane=state.lane,
            remaining=counts["remaining"],
            oldest_created=counts.get("oldest_created"),
            cache_seconds=times.map_cache_seconds,
            grace_seconds=times.drain_grace_seconds,
        )
        if lane["state"] == "retiring":
            state.phase = "retire"
            _step(context, state, "retiring", "drained: nothing in flight")
            return
    release_event = context.wait_for_external_event(RELEASE_EVENT)
    wake_event = context.wait_for_external_event(WAKE_EVENT)
    poll = context.create_timer(_after(context, times.drain_poll_seconds))
    winner = yield context.task_any([release_event, wake_event, poll])
    if winner is release_event:
        yield from _deploy_patch(context, state, LaneCommand.from_dict(release_event.result))


def _deploy_patch(context: df.DurableOrchestrationContext, state: LifecycleInput, command: LaneCommand) -> Orchestration:
    release = command.release or {}
    state.release, state.release_id = release, command.release_id
    state.steps = []  # progress is per release; the lane's whole story is in the version map
    spec = {"lane": state.lane, "version": release.get("version", ""), "task_hub": lane_task_hub(state.lane)}
    _step(context, state, "patch_received", spec["version"])
    try:
        yield from _deploy(context, state, spec, release)
        yield from map_op(context, "deploy_patch", lane=state.lane, version=spec["version"])
        _step(context, state, "patched", spec["version"])
        yield from _notify_release(context, state, ok=True)
    except Exception as error:
        message = _error_text(error)
        _step(context, state, "patch_failed", message)
        yield from map_op(context, "record_deploy_error", lane=state.lane, error=message)
        yield from _notify_release(context, state, ok=False, error=message)


def _was_forced(lane: dict[str, Any]) -> bool:
    events = [e["event"] for e in lane.get("history", [])]
    return bool(events) and events[-1] == "forced_retire"


def _retire(context: df.DurableOrchestrationContext, state: LifecycleInput) -> Orchestration:
    """No new start reaches the lane; wait out every router cache, then delete the app."""
    times = state.times
    # A worker may hold a map read just before the lane became retiring: wait until none can.
    yield context.create_timer(_after(context, times.map_cache_seconds + 1))
    if not state.forced:
        try:
            counts = yield context.call_activity_with_retry("count_in_flight", _retry(state.timing), {"app": state.app})
            remaining, detail = counts["remaining"], f"{counts['remaining']} instance(s) still in flight"
        except Exception as error:  # never delete what could not be counted
            remaining, detail = -1, f"could not count instances: {_error_text(error)}"
        if remaining != 0:
            # A start slipped in before every cache expired: let it finish first.
            _step(context, state, "waiting", detail)
            yield context.create_timer(_after(context, times.drain_poll_seconds))
            context.continue_as_new(state.to_dict())
            return None
    if state.app:
        yield context.call_activity_with_retry("delete_app", _retry(state.timing), {"app": state.app})
    yield from map_op(context, "mark_deleted", lane=state.lane)
    state.phase = "done"
    _step(context, state, "deleted", (state.app or {}).get("name", ""))
    return {"lane": state.lane, "deleted": True, "app": (state.app or {}).get("name")}


# --- release -------------------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="release")
def release(context: df.DurableOrchestrationContext) -> Orchestration:
    """One posted release: record it in the map, hand it to its lane's lifecycle, report progress."""
    data = ReleaseInput.from_dict(context.get_input())
    status: dict[str, Any] = {"releaseId": data.release_id, "version": data.version, "state": "running", "steps": []}

    def step(name: str, detail: str = "") -> None:
        status["steps"] = add_step(status["steps"], name, _now(context), detail)
        context.set_custom_status(status)

    step("received", f"{data.version} ({data.provision})")
    release_record = {"version": data.version, "package_url": data.package_url, "sha256": data.sha256,
                      "provision": data.provision}
    try:
        outcome = yield from map_op(context, "register_release", release=release_record)
    except RouterError as error:
        step("rejected", error.message)
        status.update(state="failed", error=error.body())
        context.set_custom_status(status)
        return status
    status["lane"] = outcome["lane"]
    step("registered", outcome["kind"])
    if outcome["kind"] == "same":
        status["state"] = "completed"
        context.set_custom_status(status)
        return status
    if outcome["kind"] == "new_lane" and data.provision == "lazy":
        step("waiting_for_first_request", f"lane {outcome['lane']} is created by its first request")
        status["state"] = "completed"
        context.set_custom_status(status)
        return status
    command = LaneCommand(lane=outcome["lane"], release=release_record, release_id=context.instance_id,
                          timing=data.timing)
    yield context.call_activity_with_retry("start_lifecycle", _retry(data.timing), command.to_dict())
    step("handed_to_lane", lifecycle_instance_id(outcome["lane"]))
    lane_result = context.wait_for_external_event(LANE_RESULT_EVENT)
    deadline = context.create_timer(_after(context, Timing.from_dict(data.timing).release_timeout_seconds))
    if (yield context.task_any([lane_result, deadline])) is deadline:
        step("failed", "the lane did not report back in time; see GET /api/versionmap")
        status.update(state="failed", error={"error": "lane_timeout", "message": "the lane did not report back in time"})
        context.set_custom_status(status)
        return status
    result = lane_result.result
    for lane_step in result.get("steps", []):
        if lane_step not in status["steps"]:
            status["steps"] = (status["steps"] + [lane_step])[-40:]
    if result.get("ok"):
        step("completed", f"{data.version} serving on lane {outcome['lane']}")
        status["state"] = "completed"
    else:
        step("failed", result.get("error", ""))
        status.update(state="failed", error={"error": "lane_failed", "message": result.get("error", "")})
    context.set_custom_status(status)
    return status


# --- held request ---------------------------------------------------------------------------------

HELD_POLLS_PER_HISTORY = 50


@bp.orchestration_trigger(context_name="context", orchestration="held_request")
def held_request(context: df.DurableOrchestrationContext) -> Orchestration:
    """A start for a lane still provisioning: held durably, forwarded once the lane is active."""
    data = HeldRequestInput.from_dict(context.get_input())
    times = data.timing
    poll_seconds = min(2.0, float(times.get("drain_poll_seconds", 2)))
    context.set_custom_status({"lane": data.lane, "state": "held", "version": data.version})
    if data.instance_id is None:
        # Forwarding is retried; a fixed id makes the lane create the instance only once.
        data.instance_id = str(context.new_uuid())
    if data.start_lazy_lane:
        yield from map_op(context, "start_lazy_lane", lane=data.lane)
        vmap = yield from map_op(context, "get")
        lane_release = vmap["lanes"][data.lane]["release"]
        command = LaneCommand(lane=data.lane, release=lane_release, timing=times)
        yield context.call_activity_with_retry("start_lifecycle", _retry(times), command.to_dict())
        data.start_lazy_lane = False
    for _ in range(HELD_POLLS_PER_HISTORY):
        vmap = yield from map_op(context, "get")
        lane = vmap["lanes"].get(data.lane, {})
        lane_state = lane.get("state")
        if lane_state in ("active", "draining") and lane.get("app_url"):
            forwarded = yield context.call_activity_with_retry(
                "forward_start",
                _retry(times),
                {"lane": data.lane, "app": {"name": lane["app_name"], "base_url": lane["app_url"]},
                 "orchestrator": data.orchestrator, "instance_id": data.instance_id, "body": data.body,
                 "content_type": data.content_type},
            )
            result = {"state": "forwarded", "lane": data.lane, "version": lane.get("deployed_version"),
                      "instanceId": forwarded["instanceId"]}
            context.set_custom_status(result)
            return result
        if lane_state not in ("provisioning",):
            result = {"state": "failed", "lane": data.lane,
                      "error": {"error": "lane_failed" if lane_state == "failed" else "lane_gone",
                                "message": f"lane {data.lane} is {lane_state}: {lane.get('error') or ''}".strip()}}
            context.set_custom_status(result)
            return result
        data.waited_polls += 1
        if data.waited_polls * poll_seconds > float(times.get("held_timeout_seconds", 3600)):
            result = {"state": "failed", "lane": data.lane,
                      "error": {"error": "lane_timeout", "message": f"lane {data.lane} did not become active in time"}}
            context.set_custom_status(result)
            return result
        yield context.create_timer(_after(context, poll_seconds))
    context.continue_as_new(data.to_dict())
    return None


# --- admin commands on the map ------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="map_command")
def map_command(context: df.DurableOrchestrationContext) -> Orchestration:
    """Apply one admin operation to the version map and return its result (so HTTP can wait for it)."""
    command = context.get_input() or {}
    result = yield context.call_entity(
        VERSION_MAP_ID, command.get("operation", ""), {"at": _now(context), **(command.get("args") or {})}
    )
    if result.get("ok") and command.get("wake_lane"):
        yield context.call_activity("wake_lifecycle", {"lane": command["wake_lane"]})
    return result
