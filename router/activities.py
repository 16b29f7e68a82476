"""The router's activities: all I/O of the orchestrations (SPEC 4). Each is idempotent.

Thin glue: inputs and outputs are plain JSON; the work is done by the lane backend
(provisioning) and the lane client (the lane's Durable HTTP API). The lane system key is read
into worker memory and never returned, so it never enters an orchestration history.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from provisioning.base import AppRef, LaneSpec, Package
from router import runtime
from router.durable_inputs import LaneCommand, LifecycleInput, lifecycle_instance_id
from router.errors import Conflict
from router.http_common import read_version_map
from router.orchestrators import LANE_RESULT_EVENT, RELEASE_EVENT, WAKE_EVENT
from router.version_map import LaneState

bp = df.Blueprint()
log = logging.getLogger("router.activities")

RUNNING_STATES = {"Running", "Pending", "ContinuedAsNew", "Suspended"}


def _app(data: dict[str, Any]) -> AppRef:
    return AppRef(name=data["name"], base_url=data["base_url"], resource_id=data.get("resource_id", ""))


def _spec(data: dict[str, Any]) -> LaneSpec:
    return LaneSpec(lane=data["lane"], version=data["version"], task_hub=data["task_hub"])


@bp.activity_trigger(input_name="payload", activity="create_app")
async def create_app(payload: dict[str, Any]) -> dict[str, Any]:
    app = await runtime.current().backend.create_app(_spec(payload))
    log.info("lane %s: app %s at %s", payload["lane"], app.name, app.base_url)
    return {"name": app.name, "base_url": app.base_url, "resource_id": app.resource_id}


@bp.activity_trigger(input_name="payload", activity="configure_app")
async def configure_app(payload: dict[str, Any]) -> dict[str, Any]:
    await runtime.current().backend.configure_app(_spec(payload["lane"]), _app(payload["app"]))
    return {"configured": True}


@bp.activity_trigger(input_name="payload", activity="deploy_package")
async def deploy_package(payload: dict[str, Any]) -> dict[str, Any]:
    package = Package(url=payload["package"]["url"], sha256=payload["package"].get("sha256"))
    result = await runtime.current().backend.deploy_package(
        _spec(payload["lane"]), _app(payload["app"]), package
    )
    # A redeploy restarts the lane's host; its key may change on some platforms.
    runtime.current().keys.forget(payload["app"]["base_url"])
    return {"version": result.version, "package_sha256": result.package_sha256}


@bp.activity_trigger(input_name="payload", activity="verify_system_key")
async def verify_system_key(payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime.current()
    rt.keys.forget(payload["app"]["base_url"])
    await rt.lane_endpoint(_app(payload["app"]))
    return {"readable": True}


@bp.activity_trigger(input_name="payload", activity="check_health")
async def check_health(payload: dict[str, Any]) -> dict[str, Any]:
    health = await runtime.current().backend.check_health(_app(payload["app"]))
    return {"healthy": health.healthy, "detail": health.detail}


@bp.activity_trigger(input_name="payload", activity="count_in_flight")
async def count_in_flight(payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime.current()
    counts = await rt.call_lane(_app(payload["app"]), rt.lane_client.count_in_flight)
    oldest = counts.oldest_created_time.isoformat() if counts.oldest_created_time else None
    return {"remaining": counts.total, "running": counts.running, "pending": counts.pending,
            "suspended": counts.suspended, "oldest_created": oldest}


@bp.activity_trigger(input_name="payload", activity="forward_start")
async def forward_start(payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime.current()
    try:
        started = await rt.call_lane(_app(payload["app"]), lambda endpoint: rt.lane_client.start_orchestration(
            endpoint, payload["orchestrator"], payload["instance_id"],
            (payload.get("body") or "").encode(), payload.get("content_type") or "application/json",
        ))
    except Conflict:
        # Activities run at least once: a second run finds the instance the first one started.
        return {"instanceId": payload["instance_id"]}
    log.info("held start of %s forwarded to lane %s as %s", payload["orchestrator"], payload["lane"], started.instance_id)
    return {"instanceId": started.instance_id}


@bp.activity_trigger(input_name="payload", activity="delete_app")
async def delete_app(payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime.current()
    await rt.backend.delete_app(_app(payload["app"]))
    rt.keys.forget(payload["app"]["base_url"])
    log.info("app %s deleted", payload["app"]["name"])
    return {"deleted": True}


@bp.activity_trigger(input_name="payload", activity="start_lifecycle")
@bp.durable_client_input(client_name="client")
async def start_lifecycle(payload: dict[str, Any], client: df.DurableOrchestrationClient) -> dict[str, Any]:
    """Start the lane's lifecycle singleton, or hand the release to the one already running."""
    command = LaneCommand.from_dict(payload)
    instance_id = lifecycle_instance_id(command.lane)
    status = await client.get_status(instance_id)
    if status and status.runtime_status and status.runtime_status.value in RUNNING_STATES:
        await client.raise_event(instance_id, RELEASE_EVENT, command.to_dict())
        return {"instanceId": instance_id, "started": False}
    lane = (await read_version_map(client)).lanes.get(command.lane)
    if lane is not None and lane.state in (LaneState.ACTIVE, LaneState.DRAINING) and lane.app_url:
        # The lane serves but its lifecycle is gone (terminated by hand, say): take the app over
        # again and hand it the release as the running lifecycle would have been.
        app = {"name": lane.app_name, "base_url": lane.app_url}
        lifecycle = LifecycleInput(lane=command.lane, phase="watch", app=app, timing=command.timing)
        await client.start_new("lane_lifecycle", instance_id, lifecycle.to_dict())
        await client.raise_event(instance_id, RELEASE_EVENT, command.to_dict())
        return {"instanceId": instance_id, "started": True}
    lifecycle = LifecycleInput(lane=command.lane, phase="provision", release=command.release,
                               release_id=command.release_id, timing=command.timing)
    await client.start_new("lane_lifecycle", instance_id, lifecycle.to_dict())
    return {"instanceId": instance_id, "started": True}


@bp.activity_trigger(input_name="payload", activity="notify_release")
@bp.durable_client_input(client_name="client")
async def notify_release(payload: dict[str, Any], client: df.DurableOrchestrationClient) -> dict[str, Any]:
    await client.raise_event(payload["release_id"], LANE_RESULT_EVENT, payload["result"])
    return {"notified": True}


@bp.activity_trigger(input_name="payload", activity="wake_lifecycle")
@bp.durable_client_input(client_name="client")
async def wake_lifecycle(payload: dict[str, Any], client: df.DurableOrchestrationClient) -> dict[str, Any]:
    """An admin changed the lane: let its lifecycle look at the map now rather than at the next poll."""
    instance_id = lifecycle_instance_id(payload["lane"])
    status = await client.get_status(instance_id)
    if status and status.runtime_status and status.runtime_status.value in RUNNING_STATES:
        await client.raise_event(instance_id, WAKE_EVENT, {})
        return {"woken": True}
    return {"woken": False}
