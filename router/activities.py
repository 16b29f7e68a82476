"""The router's activities: all I/O of the orchestrations (SPEC 4). Each is idempotent.

Thin glue: each takes one typed request (`router.durable_inputs`) and answers an envelope,
`{"ok": true, "value": ...}` or a failure that keeps its code and whether retrying may help
(`router.orchestration_calls.activity` reads it). Provisioning errors are translated into the
router's here. The lane system key is read into worker memory and never returned, so it never
enters an orchestration history.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import azure.durable_functions as df

from provisioning.base import AppRef, LaneSpec, Package
from provisioning import packaging
from provisioning.errors import ProvisioningError
from router import runtime
from router.durable_inputs import (
    AppRequest,
    AppTarget,
    DeployRequest,
    Done,
    Forwarded,
    ForwardRequest,
    HealthReport,
    InFlightCount,
    LaneCommand,
    LifecycleInput,
    PackageSet,
    Phase,
    ReadinessReport,
    ReadinessRequest,
    ReleaseInput,
    ReplayCheckRequest,
    ReplayVerdict,
    RampCountRequest,
    RampFigures,
    RampInput,
    WakeRequest,
    from_json,
    lifecycle_instance_id,
    to_json,
)
from router.errors import InstanceExists, NotFound, PackageRejected, RouterError, from_provisioning
from router.instance_actions import InstanceAction
from router.forwarding import forward_start as forward
from router.map_client import read_version_map
from router.lanes import LaneState
from router.map_operations import failure
from router.orchestrators import RELEASE_EVENT
from router.runtime_status import is_in_flight
from router.ramp import ramp_instance_id
from router.replay_check import fetch_and_unpack, run_replay, write_histories
from router.telemetry import IncomingTrace, payload_fields, request_context

bp = df.Blueprint()
log = logging.getLogger("router.activities")

PROBE_INSTANCE_ID = "router-health-probe"
Client = df.DurableOrchestrationClient


async def _envelope(name: str, work: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": to_json(await work())}
    except RouterError as error:
        log.warning("activity %s: %s: %s", name, error.code, error.message)
        return failure(error)
    except ProvisioningError as error:
        log.warning("activity %s: %s: %s", name, error.code, error.message)
        return failure(from_provisioning(error))
    except Exception:  # a bug, or a library error nobody translated: its text may hold internals
        log.exception("activity %s failed unexpectedly", name)
        unexpected = RouterError(f"The {name} step failed unexpectedly; see the router's logs.")
        unexpected.retryable = True
        return failure(unexpected)


def _activity(name: str, request_type: type, *, with_client: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Register `work(request[, client])` as activity `name`, typed and enveloped."""

    def register(work: Callable[..., Awaitable[Any]]) -> Any:
        if with_client:
            async def run_with_client(payload: dict[str, Any], client: Client) -> dict[str, Any]:
                with request_context(**payload_fields(payload)):
                    return await _envelope(name, lambda: work(from_json(request_type, payload), client))

            run_with_client.__name__ = name
            return bp.activity_trigger(input_name="payload", activity=name)(
                bp.durable_client_input(client_name="client")(run_with_client))

        async def run(payload: dict[str, Any]) -> dict[str, Any]:
            with request_context(**payload_fields(payload)):
                return await _envelope(name, lambda: work(from_json(request_type, payload)))

        run.__name__ = name
        return bp.activity_trigger(input_name="payload", activity=name)(run)

    return register


@_activity("create_app", LaneSpec)
async def create_app(spec: LaneSpec) -> AppRef:
    app = await runtime.current().backend.create_app(spec)
    log.info("lane %s: app %s at %s", spec.lane, app.name, app.base_url)
    return app


@_activity("configure_app", AppRequest)
async def configure_app(request: AppRequest) -> Done:
    await runtime.current().backend.configure_app(request.lane, request.app)
    return Done()


@_activity("deploy_package", DeployRequest)
async def deploy_package(request: DeployRequest) -> Done:
    rt = runtime.current()
    package = Package(url=request.package.url, sha256=request.package.sha256 or None)
    await rt.backend.deploy_package(request.lane, request.app, package)
    # A redeploy restarts the lane's host; its key may change on some platforms.
    rt.keys.forget(request.app.base_url)
    return Done()


@_activity("set_package", DeployRequest)
async def set_package(request: DeployRequest) -> PackageSet:
    """Set the app's package; when it changed, say when (the host restarts after that)."""
    rt = runtime.current()
    # Taken before the change: the host that serves the package starts after this moment.
    before = datetime.now(timezone.utc).isoformat()
    result = await rt.backend.deploy_package(request.lane, request.app, request.package)
    rt.keys.forget(request.app.base_url)
    return PackageSet("" if result.unchanged else before)


@_activity("check_lane_ready", ReadinessRequest)
async def check_lane_ready(request: ReadinessRequest) -> ReadinessReport:
    """One look at whether the app serves its package (not ready yet is a report, not a failure;
    a package whose functions cannot load fails for good)."""
    readiness = await runtime.current().backend.check_readiness(
        request.app, deployed_at=request.deployed_at, triggers_synced=request.triggers_synced)
    return ReadinessReport(readiness.ready, readiness.detail, readiness.key_read, readiness.triggers_synced)


@_activity("verify_system_key", AppTarget)
async def verify_system_key(request: AppTarget) -> Done:
    rt = runtime.current()
    rt.keys.forget(request.app.base_url)
    await rt.lane_endpoint(request.app)
    return Done()


@_activity("check_health", AppTarget)
async def check_health(request: AppTarget) -> HealthReport:
    health = await runtime.current().backend.check_health(request.app)
    return HealthReport(health.healthy, health.detail)


@_activity("count_in_flight", AppTarget)
async def count_in_flight(request: AppTarget) -> InFlightCount:
    rt = runtime.current()
    # One lane call per poll: zero or not is the drain decision; above a page the figures are "at least".
    counts = await rt.call_lane(request.app, rt.lane_client.drain_count)
    oldest = counts.oldest_created_time.isoformat() if counts.oldest_created_time else None
    return InFlightCount(counts.total, counts.running, counts.pending, counts.suspended, oldest,
                         at_least=not counts.complete)


@_activity("probe_lane", AppTarget)
async def probe_lane(request: AppTarget) -> HealthReport:
    """Whether the lane's Durable HTTP API answers with its key (an unanswered probe is a report,
    not a failure: the lifecycle decides what it means)."""
    rt = runtime.current()
    try:
        # The status of an instance nobody starts: any answer of the API's own (404 included)
        # shows the host is up, its Durable extension loaded and the key accepted.
        await rt.call_lane(request.app, lambda endpoint: rt.lane_client.proxy(
            endpoint, "GET", PROBE_INSTANCE_ID, InstanceAction.STATUS))
    except NotFound:
        pass
    except RouterError as error:
        return HealthReport(False, error.message)
    return HealthReport(True, "the Durable HTTP API answers")


@_activity("recover_app", AppTarget)
async def recover_app(request: AppTarget) -> Done:
    """Bring back an app that stopped answering (restart its host or site)."""
    rt = runtime.current()
    await rt.backend.restart_app(request.app)
    rt.keys.forget(request.app.base_url)
    log.warning("app %s stopped answering; restarted", request.app.name)
    return Done()


@_activity("forward_start", ForwardRequest, with_client=True)
async def forward_start(request: ForwardRequest, client: Client) -> Forwarded:
    """Forward a held start. Once the instance exists on the lane, the held request is forwarded.

    The activity runs at least once and the held request retries it when it fails on the way
    (its attempt may have reached the lane before its answer was lost), so an instance with the
    held request's fixed id is the one an earlier run started, running or already finished (or,
    when the client chose the id, its own earlier order). It is never started again: under
    `NonRunningStates` a finished one would run a second time, under `AnyState` even a running
    one would be replaced.
    """
    try:
        started = await forward(
            runtime.current(), client, lane=request.lane, app=request.app, draining=request.draining,
            orchestrator=request.orchestrator, instance_id=request.instance_id,
            body=request.body.encode(), content_type=request.content_type or "application/json",
            trace=IncomingTrace.of(request.traceparent, request.tracestate),
        )
    except InstanceExists as exists:
        log.info("held start of %s: instance %s already on lane %s (%s), not started again",
                 request.orchestrator, request.instance_id, request.lane, exists.details.get("runtimeStatus"))
        return Forwarded(request.instance_id)
    log.info("held start of %s forwarded to lane %s as %s", request.orchestrator, request.lane, started.instance_id)
    return Forwarded(started.instance_id)


@_activity("check_patch_replay", ReplayCheckRequest)
async def check_patch_replay(request: ReplayCheckRequest) -> ReplayVerdict:
    """Replay the lane's in-flight histories against the patch's package, in a subprocess that
    sees only the package's own `.python_packages` and the lanes' worker runtime. The lifecycle
    asks only with the local provisioner: on Azure the router never runs a release's code (its
    identity can create and delete apps), the pipeline runs `router.cli check-patch` instead."""
    rt = runtime.current()
    documents = await rt.call_lane(request.app, rt.lane_client.in_flight_histories)
    cache = rt.settings.provisioning.local_venv_root
    with tempfile.TemporaryDirectory(prefix="patch-replay-") as scratch:
        root = Path(scratch)
        app_dir, _ = await fetch_and_unpack(request.package, root, rt.settings.allowed_package_hosts)
        histories = root / "histories.ndjson"
        count = write_histories(documents, histories)
        report = await run_replay(app_dir, histories, expected=count,
                                  worker_cache=Path(cache) if cache else packaging.DEFAULT_CACHE_DIR)
    log.info("app %s: %d in-flight instance(s) replayed on the patch, %s", request.app.name, report.checked,
             "all clean" if report.passed else report.summary())
    return ReplayVerdict(report.checked, report.count("clean"), report.count("diverged"), report.count("failed"),
                         report.summary())


@_activity("delete_app", AppTarget)
async def delete_app(request: AppTarget) -> Done:
    rt = runtime.current()
    await rt.backend.delete_app(request.app)
    rt.keys.forget(request.app.base_url)
    log.info("app %s deleted", request.app.name)
    return Done()


@_activity("start_lifecycle", LaneCommand, with_client=True)
async def start_lifecycle(command: LaneCommand, client: Client) -> Done:
    """Start the lane's lifecycle singleton, or hand the release to the one already running."""
    command = await _with_whole_release(command, client)
    instance_id = lifecycle_instance_id(command.lane)
    status = await client.get_status(instance_id)
    if status and is_in_flight(status.runtime_status):
        await client.raise_event(instance_id, RELEASE_EVENT, command.to_dict())
        return Done()
    lane = (await read_version_map(client)).lanes.get(command.lane)
    if lane is not None and lane.state in (LaneState.ACTIVE, LaneState.DRAINING) and lane.app is not None:
        # The lane serves but its lifecycle is gone (terminated by hand, say): take the app over
        # again and hand it the release as the running lifecycle would have been.
        lifecycle = LifecycleInput(lane=command.lane, phase=Phase.WATCH, app=lane.app, timing=command.timing,
                                   readiness_loop=True)
        await client.start_new("lane_lifecycle", instance_id, lifecycle.to_dict())
        await client.raise_event(instance_id, RELEASE_EVENT, command.to_dict())
        return Done()
    lifecycle = LifecycleInput(lane=command.lane, phase=Phase.PROVISION, release=command.release,
                               timing=command.timing, handovers=[command.handover], readiness_loop=True,
                               ramp=command.ramp)
    try:
        await client.start_new("lane_lifecycle", instance_id, lifecycle.to_dict())
    except Exception:
        # Delivered twice at once, the other run started it first: the hand-over is done.
        status = await client.get_status(instance_id)
        if not (status and is_in_flight(status.runtime_status)):
            raise
    return Done()


async def _with_whole_release(command: LaneCommand, client: Client) -> LaneCommand:
    """A lazy lane's release comes from the version map, which keeps its package URL without
    the secret. The whole URL is in the input of the release's own orchestration: durable
    inputs live in the task hub, as the lane app's settings on Azure hold the URL anyway."""
    release = command.release
    if release is None or release.whole:
        return command
    status = await client.get_status(release.id, show_input=True)
    data = getattr(status, "input_", None) if status else None
    if isinstance(data, str):
        data = json.loads(data)
    whole = ReleaseInput.from_dict(data).release if isinstance(data, dict) else None
    if whole is None or whole.id != release.id:
        raise PackageRejected(f"The package URL of release {release.id} is no longer known to the router; "
                              "post the release again.", releaseId=release.id)
    return dataclasses.replace(command, release=whole)


@_activity("start_ramp", RampInput, with_client=True)
async def start_ramp(request: RampInput, client: Client) -> Done:
    """Start the orchestration that drives a ramp. Its id derives from the ramp, so a second
    start (a retried command, a replayed lifecycle) finds it and leaves it alone, running or done."""
    instance_id = ramp_instance_id(request.lane, request.started_at)
    status = await client.get_status(instance_id)
    if status and status.runtime_status:
        return Done()
    try:
        await client.start_new("ramp", instance_id, request.to_dict())
    except Exception:
        # Delivered twice at once, the other run started it first.
        status = await client.get_status(instance_id)
        if not (status and status.runtime_status):
            raise
    log.info("ramp onto lane %s started (%s)", request.lane, instance_id)
    return Done()


@_activity("count_ramp_failures", RampCountRequest)
async def count_ramp_failures(request: RampCountRequest) -> RampFigures:
    """The ramp lane's orchestrations created since the ramp began, and the Failed ones."""
    rt = runtime.current()
    counted = await rt.call_lane(request.app, lambda endpoint: rt.lane_client.count_started_since(
        endpoint, request.created_from))
    return RampFigures(counted.started, counted.failed)


@_activity("raise_events", WakeRequest, with_client=True)
async def raise_events(request: WakeRequest, client: Client) -> Done:
    """Wake waiting orchestrations; one that has already ended is simply not woken."""
    for instance_id in request.instance_ids:
        status = await client.get_status(instance_id)
        if status and is_in_flight(status.runtime_status):
            await client.raise_event(instance_id, request.event, {})
    return Done()
