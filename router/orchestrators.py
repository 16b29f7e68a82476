"""The router's orchestrations (SPEC 4): lane lifecycle, release, held request, map command.

They replay, so they only decide through pure code over a typed `VersionMap` and act through
activities and the version-map entity (`router.orchestration_calls`). Time comes from
`context.current_utc_datetime`, ids from `new_uuid`; the settings they need travel in their
input. The lifecycle ends each turn in `continue_as_new`, which keeps its history bounded
however long a lane lives.

A lane's progress lives in one place, its story in the version map (`record_progress` and the
state machine's own events, each tagged with the release it belongs to); `GET /api/releases/{id}`
reads it there. No error path ends the lifecycle: a failure is recorded and the lane waits for
what can fix it (a new release, an admin's retire).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.durable_functions as df

from provisioning.base import AppRef, LaneSpec, Package
from router.durable_inputs import (
    AppRequest,
    AppTarget,
    DeployRequest,
    Done,
    Forwarded,
    ForwardRequest,
    HealthReport,
    HeldRequestInput,
    InFlightCount,
    LaneCommand,
    LifecycleInput,
    PackageSet,
    Phase,
    RampCountRequest,
    RampFigures,
    RampInput,
    ReadinessReport,
    ReadinessRequest,
    ReleaseInput,
    ReplayCheckRequest,
    ReplayVerdict,
    Step,
    Timing,
    WakeRequest,
    add_step,
    lifecycle_instance_id,
    to_json,
)
from router.entity import VERSION_MAP_ID
from router.errors import (
    HeldTooLong,
    LaneFailed,
    LaneNotReady,
    LaneNotServing,
    ReleaseTimeout,
    RouterError,
)
from router.lanes import Lane, LaneState, RampState, VersionMap
from router.patch_gate import PatchGate, replay_refusal
from router.orchestration_calls import (
    Context,
    Orchestration,
    activity,
    activity_with_attempts,
    after,
    describe,
    lane_op,
    map_op,
    now,
    read_lane,
    read_map,
)
from router import telemetry
from router.versions import lane_task_hub

bp = df.Blueprint()

# Events the lane lifecycle listens to.
RELEASE_EVENT = "release"  # a patch (or a failed lane's retry) to deploy
WAKE_EVENT = "wake"  # look at the version map now rather than at the next poll
# The event a held request waits for: its lane serves, or failed.
LANE_READY_EVENT = "lane_ready"

BACKOFF_MAX_SECONDS = 30.0  # the longest wait between two health checks or probes of a lane
UNHEALTHY_AFTER_FAILED_PROBES = 2
MAX_HANDOVERS = 20


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- lane lifecycle -----------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="lane_lifecycle")
def lane_lifecycle(context: Context) -> Orchestration:
    """Owns a lane's app from birth to deletion; one instance per lane (`lane-lifecycle-<lane>`)."""
    state = LifecycleInput.from_dict(context.get_input())
    _show(context, state)
    turn = {Phase.PROVISION: _provision, Phase.FAILED: _wait_for_release, Phase.WATCH: _watch,
            Phase.RETIRE: _retire}.get(state.phase)
    if turn is not None:
        yield from turn(context, state)
    _show(context, state)
    if state.phase is Phase.DONE:
        return {"lane": state.lane, "deleted": True, "app": state.app.name if state.app else None}
    state.readiness_loop = True  # the next generation runs this code from its start
    context.continue_as_new(state.to_dict())
    return None


def _show(context: Context, state: LifecycleInput) -> None:
    context.set_custom_status({
        "lane": state.lane, "phase": state.phase.value,
        "version": state.release.version if state.release else None,
        "steps": to_json(state.steps),
    })


def _step(context: Context, state: LifecycleInput, step: str, detail: str = "") -> None:
    state.steps = add_step(state.steps, step, now(context), detail)
    _show(context, state)


def _progress(context: Context, state: LifecycleInput, step: str, detail: str = "") -> Orchestration:
    """A step of the release being provisioned or deployed, recorded where its progress is read."""
    _step(context, state, step, detail)
    yield from map_op(context, "record_progress", lane=state.lane, step=step, detail=detail,
                      release_id=_release_id(state))


def _release_id(state: LifecycleInput) -> str:
    """The release this turn provisions or deploys: its steps are tagged with it in the map."""
    return state.release.id if state.release else ""


def _spec(state: LifecycleInput) -> LaneSpec:
    assert state.release is not None
    return LaneSpec(lane=state.lane, version=state.release.version,
                    task_hub=lane_task_hub(state.lane, state.timing.router_id))


def _provision(context: Context, state: LifecycleInput) -> Orchestration:
    """Reserve, create, configure, deploy, check, activate; any failure fails the lane."""
    spec = _spec(state)
    if state.provision_deadline is None:
        state.provision_deadline = after(context, state.timing.release_timeout_seconds).isoformat()
    try:
        yield from map_op(context, "reserve_lane", lane=state.lane)
        state.app = yield from activity(context, "create_app", spec, AppRef, state.timing)
        yield from map_op(context, "record_app", lane=state.lane, app_name=state.app.name,
                          app_url=state.app.base_url)
        _check_deadline(context, state)
        yield from activity(context, "configure_app", AppRequest(spec, state.app), Done, state.timing)
        yield from _progress(context, state, "configured", f"task hub {spec.task_hub}")
        yield from _deploy(context, state, spec)
        # With a ramp (a field older inputs lack: their activation replays unchanged) the map
        # starts it instead of making the lane current, when another lane is current.
        ramp = {"ramp": to_json(state.ramp)} if state.ramp is not None else {}
        lane = yield from lane_op(context, "activate", state.lane, version=spec.version,
                                  release_id=_release_id(state), **ramp)
    except Exception as error:  # an activity failed for good, or the map refused
        yield from _fail(context, state, error)
        return
    state.phase, state.provision_deadline = Phase.WATCH, None
    _step(context, state, "activated", spec.version)
    yield from _safely(context, state, "wake held requests", _wake_held(context, state, lane))
    if state.ramp is not None:
        yield from _safely(context, state, "start the ramp", _start_ramp_driver(context, state))
        state.ramp = None  # only an activation starts a ramp


def _start_ramp_driver(context: Context, state: LifecycleInput) -> Orchestration:
    """The activation started a ramp onto this lane: start the orchestration that advances it."""
    vmap: VersionMap = yield from read_map(context)
    ramp = vmap.running_ramp()
    if ramp is None or ramp.lane != state.lane:
        return  # no lane was current: this one became current at once
    yield from activity(context, "start_ramp", RampInput(state.lane, ramp.started_at, state.timing), Done,
                        state.timing)
    _step(context, state, "ramp_started", f"{ramp.share}% of version-less starts, from lane {ramp.from_lane}")


def _check_deadline(context: Context, state: LifecycleInput) -> None:
    if state.provision_deadline and context.current_utc_datetime >= _parse(state.provision_deadline):
        raise ReleaseTimeout(
            f"Lane {state.lane} did not finish provisioning within "
            f"{state.timing.release_timeout_seconds:g} s.", lane=state.lane)


def _fail(context: Context, state: LifecycleInput, error: Exception) -> Orchestration:
    """Record the failure with its code; reporting it must not kill the lifecycle either."""
    code, message = describe(error)
    state.phase, state.provision_deadline = Phase.FAILED, None
    _step(context, state, "failed", f"{code}: {message}")
    lane = yield from _safely(context, state, "record the failure", lane_op(
        context, "fail", state.lane, code=code, message=message, app_exists=state.app is not None,
        release_id=_release_id(state)))
    if lane is not None:
        yield from _safely(context, state, "wake held requests", _wake_held(context, state, lane))


def _safely(context: Context, state: LifecycleInput, what: str, work: Orchestration) -> Orchestration:
    """Run `work`; a failure is noted in the lifecycle's steps instead of ending it."""
    try:
        return (yield from work)
    except Exception as error:
        code, message = describe(error)
        _step(context, state, "could_not", f"{what}: {code}: {message}")
        return None


def _wake_held(context: Context, state: LifecycleInput, lane: Lane) -> Orchestration:
    """Tell the lane's held requests to look at the map now: it serves, or it failed."""
    if not lane.held:
        return
    held = list(lane.held)
    yield from activity(context, "raise_events", WakeRequest(held, LANE_READY_EVENT), Done, state.timing)
    yield from map_op(context, "release_held", lane=state.lane, held_ids=held)


def _deploy(context: Context, state: LifecycleInput, spec: LaneSpec) -> Orchestration:
    """Set the package, then look again with backoff until the app serves it or the lane's ready
    timeout passes. A site takes minutes to restart with a package; everything it answers
    meanwhile is "not ready yet" (the backend says why); only a package that cannot load, or a
    refusal, fails at once."""
    if not state.readiness_loop:
        yield from _deploy_then_check_health(context, state, spec)
        return
    assert state.release is not None and state.app is not None
    timing = state.timing
    package = Package(url=state.release.package_url, sha256=state.release.sha256 or None)
    before_first_attempt = now(context)
    deployed, attempts = yield from activity_with_attempts(
        context, "set_package", DeployRequest(spec, state.app, package, release_id=_release_id(state)), PackageSet,
        timing)
    yield from _progress(context, state, "deployed", spec.version)
    ready_by = after(context, timing.ready_timeout_seconds)
    look = ReadinessRequest(state.app, deployed_at=_package_set_at(deployed, attempts, before_first_attempt))
    interval, key_read, said = timing.health_interval_seconds, False, ""
    while True:
        report = yield from activity(context, "check_lane_ready", look, ReadinessReport, timing)
        if report.key_read and not key_read:
            key_read = True
            yield from _progress(context, state, "key_read", "durabletask_extension system key readable")
        look.triggers_synced = report.triggers_synced
        if report.ready:
            yield from _progress(context, state, "healthy", report.detail)
            return
        _check_deadline(context, state)
        left = (ready_by - context.current_utc_datetime).total_seconds()
        if left <= 0:
            raise LaneNotReady(
                f"The app did not serve the package within {timing.ready_timeout_seconds:g} s: {report.detail}",
                lane=state.lane, lastError=report.detail)
        if report.detail != said:  # a new reason only: the steps kept are few
            said = report.detail
            _step(context, state, "not_ready", said)
        # The last look is at the deadline itself.
        yield context.create_timer(after(context, min(interval, left)))
        interval = min(interval * 2, BACKOFF_MAX_SECONDS)


def _package_set_at(deployed: PackageSet, attempts: int, before_first_attempt: str) -> str:
    """The lower bound for the host's start. A retried set_package that finds the package
    already set may be finding what its own lost first attempt did: the site restarts after
    that, so the host must have started after the first attempt, not be taken as it is."""
    if deployed.deployed_at or attempts == 1:
        return deployed.deployed_at
    return before_first_attempt


def _deploy_then_check_health(context: Context, state: LifecycleInput, spec: LaneSpec) -> Orchestration:
    """The deploy of generations written before the readiness loop (kept for their replay; see
    LifecycleInput.readiness_loop): deploy, read the key once, then poll the health check."""
    assert state.release is not None and state.app is not None
    package = Package(url=state.release.package_url, sha256=state.release.sha256 or None)
    yield from activity(context, "deploy_package", DeployRequest(spec, state.app, package), Done, state.timing)
    yield from _progress(context, state, "deployed", spec.version)
    _check_deadline(context, state)
    yield from activity(context, "verify_system_key", AppTarget(state.app), Done, state.timing)
    yield from _progress(context, state, "key_read", "durabletask_extension system key readable")
    ready_by = after(context, state.timing.ready_timeout_seconds)
    interval = state.timing.health_interval_seconds
    while True:
        health = yield from activity(context, "check_health", AppTarget(state.app), HealthReport, state.timing)
        if health.healthy:
            yield from _progress(context, state, "healthy", health.detail)
            return
        _check_deadline(context, state)
        if after(context, interval) > ready_by:
            raise LaneNotReady(
                f"The app did not become healthy within {state.timing.ready_timeout_seconds:g} s: {health.detail}",
                lane=state.lane, lastError=health.detail)
        yield context.create_timer(after(context, interval))
        interval = min(interval * 2, BACKOFF_MAX_SECONDS)


def _wait_for_release(context: Context, state: LifecycleInput) -> Orchestration:
    """A failed lane waits for a release of the lane (the same one retries), or an admin's retire."""
    release_event = context.wait_for_external_event(RELEASE_EVENT)
    wake_event = context.wait_for_external_event(WAKE_EVENT)
    winner = yield context.task_any([release_event, wake_event])
    if winner is release_event:
        command = LaneCommand.from_dict(release_event.result)
        if not _first_handover(context, state, command):
            return
        state.release, state.timing, state.ramp = command.release, command.timing, command.ramp
        state.phase, state.steps = Phase.PROVISION, []
        _step(context, state, "retry", state.release.version if state.release else "")
        return
    lane = yield from read_lane(context, state.lane)
    if lane is None or lane.state is LaneState.DELETED:
        state.phase = Phase.DONE
    elif lane.state is LaneState.RETIRING:
        state.phase = Phase.RETIRE
        _step(context, state, "retiring", "retired by an administrator")


def _watch(context: Context, state: LifecycleInput) -> Orchestration:
    """Serve: probe the app, deploy patches; once superseded, count in-flight instances until the
    lane is empty. An app that stops answering is marked unhealthy, restarted and probed with
    backoff until it answers again."""
    timing = state.timing
    vmap = yield from read_map(context)
    lane = vmap.lanes.get(state.lane)
    if lane is None or lane.state is LaneState.DELETED:
        state.phase = Phase.DONE
        return
    if lane.state is LaneState.RETIRING:
        state.phase = Phase.RETIRE
        _step(context, state, "retiring", "forced by an administrator" if lane.forced_retire else "drained")
        return
    if lane.state is LaneState.DRAINING and vmap.current != state.lane:
        # The drain count is a draining lane's probe too: one call to the lane per drain poll.
        if _drain_check_due(context, state):
            counted, detail = yield from _drain_check(context, state)
            answered = yield from _note_health(context, state, lane, counted is not None, detail)
            wait = timing.drain_poll_seconds if answered else _probe_backoff(state)
            state.next_drain_check = after(context, wait).isoformat()
            if counted is not None and counted.state is LaneState.RETIRING:
                state.phase = Phase.RETIRE
                _step(context, state, "retiring", "drained: nothing in flight")
                return
        assert state.next_drain_check is not None
        next_look = (_parse(state.next_drain_check) - context.current_utc_datetime).total_seconds()
    else:
        assert state.app is not None
        report = yield from activity(context, "probe_lane", AppTarget(state.app), HealthReport, timing)
        answered = yield from _note_health(context, state, lane, report.healthy, report.detail)
        next_look = timing.probe_seconds if answered else _probe_backoff(state)
    release_event = context.wait_for_external_event(RELEASE_EVENT)
    wake_event = context.wait_for_external_event(WAKE_EVENT)
    poll = context.create_timer(after(context, max(0.0, min(next_look, timing.drain_poll_seconds))))
    winner = yield context.task_any([release_event, wake_event, poll])
    if winner is not poll:
        poll.cancel()
    if winner is release_event:
        command = LaneCommand.from_dict(release_event.result)
        if _first_handover(context, state, command):
            yield from _deploy_patch(context, state, command)


def _first_handover(context: Context, state: LifecycleInput, command: LaneCommand) -> bool:
    """Whether this hand-over is new: the same one delivered again is acted on once."""
    if command.handover and command.handover in state.handovers:
        _step(context, state, "duplicate_ignored", command.release.version if command.release else "")
        return False
    state.handovers = (state.handovers + [command.handover])[-MAX_HANDOVERS:]
    return True


def _drain_check_due(context: Context, state: LifecycleInput) -> bool:
    return state.next_drain_check is None or context.current_utc_datetime >= _parse(state.next_drain_check)


def _probe_backoff(state: LifecycleInput) -> float:
    return min(2.0 ** (state.failed_probes - 1), max(state.timing.probe_seconds, BACKOFF_MAX_SECONDS))


def _note_health(context: Context, state: LifecycleInput, lane: Lane, answered: bool, detail: str) -> Orchestration:
    """What a probe (or a drain count) said. Two failures in a row mark the lane unhealthy (a
    blip is not an outage) and ask the backend to bring the app back; the first answer after
    that marks it healthy again and wakes the starts held for it. Answers whether it answered."""
    assert state.app is not None
    if answered:
        state.failed_probes = 0
        if lane.unhealthy is not None:
            lane = yield from lane_op(context, "mark_healthy", state.lane)
            _step(context, state, "recovered", detail)
            yield from _safely(context, state, "wake held requests", _wake_held(context, state, lane))
        return True
    state.failed_probes += 1
    _step(context, state, "probe_failed", detail)
    if state.failed_probes >= UNHEALTHY_AFTER_FAILED_PROBES:
        yield from _safely(context, state, "record the outage", map_op(
            context, "mark_unhealthy", lane=state.lane, code="lane_unreachable", message=detail))
        yield from _safely(context, state, "restart the app", activity(
            context, "recover_app", AppTarget(state.app), Done, state.timing))
    return False


def _drain_check(context: Context, state: LifecycleInput) -> Orchestration:
    """Count the lane's in-flight instances and let the map decide: (the lane after it, "") or,
    when they could not be counted, (None, why)."""
    assert state.app is not None
    try:
        counts = yield from activity(context, "count_in_flight", AppTarget(state.app), InFlightCount, state.timing)
    except RouterError as error:  # the lane did not answer: it stays draining, try at the next poll
        _step(context, state, "drain_check_failed", f"{error.code}: {error.message}")
        return None, error.message
    if not context.is_replaying:  # once per count, not once per replay
        telemetry.current().record_draining(state.lane, counts.remaining)
    lane = yield from lane_op(
        context, "record_drain_check", state.lane, remaining=counts.remaining, oldest_created=counts.oldest_created,
        cache_seconds=state.timing.map_cache_seconds, grace_seconds=state.timing.drain_grace_seconds)
    return lane, "the lane answered its drain count"


def _deploy_patch(context: Context, state: LifecycleInput, command: LaneCommand) -> Orchestration:
    state.release, state.steps = command.release, []
    spec = _spec(state)
    _step(context, state, "patch_received", spec.version)
    try:
        if command.replay_gate:  # absent from hand-overs written before the gate: no new step
            yield from _check_replay(context, state, command.replay_gate)
        yield from _deploy(context, state, spec)
        yield from map_op(context, "deploy_patch", lane=state.lane, version=spec.version,
                          release_id=_release_id(state))
        _step(context, state, "patched", spec.version)
    except Exception as error:  # the lane keeps serving its previous patch
        code, message = describe(error)
        _step(context, state, "patch_failed", f"{code}: {message}")
        yield from _safely(context, state, "record the failed patch", map_op(
            context, "record_deploy_error", lane=state.lane, code=code, message=message,
            release_id=_release_id(state)))


def _check_replay(context: Context, state: LifecycleInput, gate: str) -> Orchestration:
    """Replay the lane's in-flight histories against the patch before it replaces their code
    (local provisioner only: on Azure the router never runs a release's code). A divergence
    fails the patch under `require` (the lane keeps its package), and is a recorded warning
    under `warn`."""
    assert state.release is not None and state.app is not None
    package = Package(url=state.release.package_url, sha256=state.release.sha256 or None)
    try:
        verdict = yield from activity(context, "check_patch_replay", ReplayCheckRequest(state.app, package),
                                      ReplayVerdict, state.timing)
    except RouterError as error:  # the check could not run: only `require` makes that a refusal
        if gate == PatchGate.REQUIRE.value:
            raise
        yield from _progress(context, state, "patch_gate_warning", f"replay check not run: {error.message}")
        return
    if verdict.passed:
        yield from _progress(context, state, "replay_checked",
                             f"{verdict.checked} in-flight instance(s) replay cleanly")
        return
    if gate == PatchGate.REQUIRE.value:
        raise replay_refusal(state.lane, state.release.version, verdict.summary)
    yield from _progress(context, state, "patch_gate_warning", verdict.summary)


def _retire(context: Context, state: LifecycleInput) -> Orchestration:
    """No new start reaches the lane; wait out every router cache, then delete the app.

    A deletion that keeps failing leaves the lane retiring with the error in the map (still
    counted against the quota); the lifecycle tries again at the next poll, or at once when an
    admin retires the lane again.
    """
    timing = state.timing
    lane = yield from read_lane(context, state.lane)
    if lane is None or lane.state is LaneState.DELETED:
        state.phase = Phase.DONE
        return
    # A worker may hold a map read just before the lane became retiring: wait until none can.
    yield context.create_timer(after(context, timing.map_cache_seconds + 1))
    app = state.app or lane.app
    if not lane.forced_retire and app is not None:
        try:
            counts = yield from activity(context, "count_in_flight", AppTarget(app), InFlightCount, timing)
            remaining, detail = counts.remaining, f"{counts.remaining} instance(s) still in flight"
        except RouterError as error:  # never delete what could not be counted
            remaining, detail = -1, f"could not count instances: {error.code}: {error.message}"
        if remaining != 0:
            # A start slipped in before every cache expired: let it finish first.
            _step(context, state, "waiting", detail)
            yield context.create_timer(after(context, timing.drain_poll_seconds))
            return
    if app is not None:
        try:
            yield from activity(context, "delete_app", AppTarget(app), Done, timing)
        except Exception as error:
            code, message = describe(error)
            _step(context, state, "delete_failed", f"{code}: {message}")
            yield from _safely(context, state, "record the failed deletion", map_op(
                context, "record_delete_error", lane=state.lane, code=code, message=message))
            wake = context.wait_for_external_event(WAKE_EVENT)
            poll = context.create_timer(after(context, timing.drain_poll_seconds))
            if (yield context.task_any([wake, poll])) is wake:
                poll.cancel()
            return
    yield from map_op(context, "mark_deleted", lane=state.lane)
    if not context.is_replaying:
        telemetry.current().lane_deleted(state.lane)
    state.phase = Phase.DONE
    _step(context, state, "deleted", app.name if app else "")


# --- release -------------------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="release")
def release(context: Context) -> Orchestration:
    """One posted release: record it in the map and hand it to its lane's lifecycle.

    What happens next is the lane's story, read from the version map by `GET /api/releases/{id}`.
    """
    data = ReleaseInput.from_dict(context.get_input())
    status: dict[str, Any] = {"releaseId": context.instance_id, "version": data.release.version,
                              "state": "running", "steps": []}
    steps: list[Step] = []

    def step(name: str, detail: str = "") -> None:
        nonlocal steps
        steps = add_step(steps, name, now(context), detail)
        status["steps"] = to_json(steps)
        context.set_custom_status(status)

    step("received", f"{data.release.version} ({data.release.provision})")
    try:
        # The map gets the release without its URL's secret; the hand-over below carries it whole.
        outcome = yield from map_op(context, "register_release", release=to_json(data.release.shown()))
    except RouterError as error:
        step("rejected", error.message)
        status.update(state="failed", error=error.body())
        return status
    status["lane"] = outcome["lane"]
    step("registered", outcome["kind"])
    if data.gate_warning:  # ROUTER_PATCH_GATE=warn took a patch without a passing replay check
        step("patch_gate_warning", data.gate_warning)
    if outcome["kind"] == "new_lane" and data.release.provision == "lazy":
        step("waiting_for_first_request", f"lane {outcome['lane']} is created by its first request")
    elif outcome["kind"] != "same":
        command = LaneCommand(lane=outcome["lane"], release=data.release, timing=data.timing,
                              handover=str(context.new_uuid()), replay_gate=data.replay_gate)
        command.ramp = data.ramp if outcome["kind"] in ("new_lane", "retry_failed") else None
        if data.ramp is not None and command.ramp is None:
            step("ramp_ignored", "a patch is deployed in place; a ramp applies to a new lane")
        try:
            yield from activity(context, "start_lifecycle", command, Done, data.timing)
        except RouterError as error:
            step("failed", error.message)
            status.update(state="failed", error=error.body())
            return status
        step("handed_to_lane", lifecycle_instance_id(outcome["lane"]))
    status["state"] = "handed_to_lane"
    context.set_custom_status(status)
    return status


# --- held request ---------------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="held_request")
def held_request(context: Context) -> Orchestration:
    """A start for a lane still provisioning: held durably, forwarded once the lane serves.

    It registers with the lane in the map and sleeps until the lane's lifecycle wakes it (or
    its deadline passes); the forward goes through the same path as a direct start.
    """
    data = HeldRequestInput.from_dict(context.get_input())
    if data.deadline is None:
        data.deadline = after(context, data.timing.held_timeout_seconds).isoformat()
    if data.instance_id is None:
        # Forwarding is retried; a fixed id makes the lane create the instance only once.
        data.instance_id = str(context.new_uuid())
    context.set_custom_status({"lane": data.lane, "state": "held", "version": data.version})
    try:
        if data.start_lazy_lane:
            lane = yield from lane_op(context, "start_lazy_lane", data.lane)
            command = LaneCommand(lane=data.lane, release=lane.release, timing=data.timing,
                                  handover=str(context.new_uuid()))
            yield from activity(context, "start_lifecycle", command, Done, data.timing)
        while True:
            lane = yield from _wait_until_served(context, data)
            app = lane.app
            assert app is not None
            try:
                forwarded = yield from activity(context, "forward_start", ForwardRequest(
                    lane=data.lane, app=app, orchestrator=data.orchestrator, instance_id=data.instance_id,
                    body=data.body, content_type=data.content_type, draining=lane.state is LaneState.DRAINING,
                    traceparent=data.traceparent, tracestate=data.tracestate,
                ), Forwarded, data.timing)
                break
            except RouterError as error:
                if not error.retryable:
                    raise
                # The lane stopped answering under us: its lifecycle will notice, mark it
                # unhealthy and bring it back; wait for that rather than fail the client's start.
                _check_held_deadline(context, data)
                yield context.create_timer(after(context, data.timing.probe_seconds))
    except RouterError as error:
        result = {"state": "failed", "lane": data.lane, "status": error.status, "error": error.body()}
        context.set_custom_status(result)
        return result
    result = {"state": "forwarded", "lane": data.lane, "version": lane.deployed_version,
              "instanceId": forwarded.instance_id}
    context.set_custom_status(result)
    return result


def _wait_until_served(context: Context, data: HeldRequestInput) -> Orchestration:
    """The lane once it serves; while it is provisioning or unhealthy, sleep until its lifecycle
    wakes this request (or the deadline passes)."""
    lane = yield from lane_op(context, "hold_request", data.lane, held_id=context.instance_id)
    while lane.awaited:
        assert data.deadline is not None
        ready = context.wait_for_external_event(LANE_READY_EVENT)
        timeout = context.create_timer(_parse(data.deadline))
        if (yield context.task_any([ready, timeout])) is timeout:
            yield from map_op(context, "release_held", lane=data.lane, held_ids=[context.instance_id])
            _check_held_deadline(context, data)
        timeout.cancel()
        lane = yield from lane_op(context, "hold_request", data.lane, held_id=context.instance_id)
    if not lane.serves:
        raise _not_serving(lane)
    return lane


def _check_held_deadline(context: Context, data: HeldRequestInput) -> None:
    assert data.deadline is not None
    if context.current_utc_datetime >= _parse(data.deadline):
        raise HeldTooLong(f"Lane {data.lane} did not become active within "
                          f"{data.timing.held_timeout_seconds:g} s.", lane=data.lane)


def _not_serving(lane: Lane) -> RouterError:
    if lane.state is LaneState.FAILED:
        error = lane.error
        return LaneFailed(f"Lane {lane.key} failed to provision: {error}", lane=lane.key,
                          cause=error.code if error else None, failure=error.message if error else None)
    return LaneNotServing(f"Lane {lane.key} is {lane.state.value}.", lane=lane.key, state=lane.state.value)


# --- progressive ramp ----------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="ramp")
def ramp(context: Context) -> Orchestration:
    """Drive one ramp (`ramp-<lane>-<start>`): at each step's end, count the ramp lane's
    orchestrations since the ramp began and let the map advance, complete or abort it.

    Its own orchestration, not a turn of the lane lifecycle: the lifecycle's watch loop and its
    recorded histories stay as they were, and a ramp an admin starts on a serving lane needs no
    hand-over to a lifecycle. Its timers are durable, so a router restarted mid-ramp resumes at
    the step it was in. Counting that keeps failing aborts the ramp: unsure is not safe.
    """
    data = RampInput.from_dict(context.get_input())
    while True:
        vmap: VersionMap = yield from read_map(context)
        ramp = vmap.running_ramp()
        if ramp is None or ramp.lane != data.lane or ramp.started_at != data.started_at:
            break  # ended, by its checks or by an admin
        context.set_custom_status({"lane": ramp.lane, "fromLane": ramp.from_lane, "step": ramp.step + 1,
                                   "share": ramp.share, "stepEndsAt": ramp.step_ends_at})
        step_end = _parse(ramp.step_ends_at)
        if context.current_utc_datetime < step_end:
            yield context.create_timer(step_end)
            continue  # look at the map again: the ramp may have ended meanwhile
        lane = vmap.lanes.get(data.lane)
        app = lane.app if lane is not None else None
        try:
            if app is None:
                raise LaneNotServing(f"Lane {data.lane} has no app.", lane=data.lane)
            figures = yield from activity(context, "count_ramp_failures", RampCountRequest(app, data.started_at),
                                          RampFigures, data.timing)
        except RouterError as error:
            yield from map_op(context, "abort_ramp", lane=data.lane, started_at=data.started_at,
                              reason=f"the orchestrations on lane {data.lane} could not be counted: {error.message}")
            continue
        after_check = VersionMap.from_dict((yield from map_op(
            context, "record_ramp_check", lane=data.lane, started_at=data.started_at, started=figures.started,
            failed=figures.failed)))
        if after_check.ramp is not None and after_check.ramp.state is RampState.COMPLETED:
            # The lane it ramped from drains now: its lifecycle need not wait for its next poll.
            wake = WakeRequest([lifecycle_instance_id(ramp.from_lane)], WAKE_EVENT)
            yield from _safely_wake(context, wake, data)
    vmap = yield from read_map(context)
    result = {"lane": data.lane, "startedAt": data.started_at}
    if vmap.ramp is not None and vmap.ramp.lane == data.lane and vmap.ramp.started_at == data.started_at:
        result.update(state=vmap.ramp.state.value, reason=vmap.ramp.reason)
    context.set_custom_status(result)
    return result


def _safely_wake(context: Context, wake: WakeRequest, data: RampInput) -> Orchestration:
    try:
        yield from activity(context, "raise_events", wake, Done, data.timing)
    except RouterError:
        pass  # the lifecycle looks at the map at its next poll anyway


# --- admin commands on the map ------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context", orchestration="map_command")
def map_command(context: Context) -> Orchestration:
    """Apply one admin operation to the version map and return its result (so HTTP can wait for it)."""
    command = context.get_input() or {}
    result = yield context.call_entity(
        VERSION_MAP_ID, command.get("operation", ""), {"at": now(context), **(command.get("args") or {})}
    )
    if result.get("ok") and command.get("drive_ramp"):
        # An admin's ramp: start what advances it here, durably, so a router that stops between
        # the map change and that start still starts it when this orchestration resumes.
        started = VersionMap.from_dict(result.get("value")).running_ramp()
        if started is not None:
            timing = Timing.from_dict(command["drive_ramp"])
            yield from activity(context, "start_ramp", RampInput(started.lane, started.started_at, timing), Done,
                                timing)
    if result.get("ok") and command.get("wake_lane"):
        wake = WakeRequest([lifecycle_instance_id(command["wake_lane"])], WAKE_EVENT)
        try:
            yield from activity(context, "raise_events", wake, Done, Timing())
        except RouterError:
            pass  # the lifecycle looks at the map at its next poll anyway
    return result
