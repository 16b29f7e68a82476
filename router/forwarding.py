"""The one path a start takes to its lane, held or direct (SPEC 5).

Forward the start to the lane's Durable HTTP API with the lane's key, then, for a draining lane,
tell the version map: a fresh start resets the lane's drain grace period, so it must not retire
under it.

A start that names an instance id never runs an existing instance again. The lane would: the
extension replaces a finished instance (and, under `AnyState`, a running one) instead of refusing
the id, so the lane client reads the instance before starting it and raises `InstanceExists` when
it is there (`LaneClient.start_orchestration`). A direct start answers that as 409
`instance_exists`; a held start treats it as done (`router.activities.forward_start`), since the
instance is the one an earlier attempt of the same forward created.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import azure.durable_functions as df

from provisioning.base import AppRef
from router.entity import VERSION_MAP_ID
from router.errors import InstanceExists
from router.lane_types import StartedInstance
from router.runtime import RouterRuntime
from router.telemetry import IncomingTrace, annotate, current as telemetry

log = logging.getLogger("router.forwarding")


async def forward_start(
    rt: RouterRuntime,
    client: df.DurableOrchestrationClient,
    *,
    lane: str,
    app: AppRef,
    draining: bool,
    orchestrator: str,
    instance_id: str | None,
    body: bytes,
    content_type: str | None,
    trace: IncomingTrace | None = None,
) -> StartedInstance:
    """Start `orchestrator` on the lane; raises `InstanceExists` (409) if `instance_id` is taken.

    The router's span for it is a child of `trace` (the caller's), and the lane's parent."""
    observed = telemetry()
    with observed.forward_span(trace, lane=lane, orchestrator=orchestrator) as trace_headers:
        try:
            started = await rt.call_lane(app, lambda endpoint: rt.lane_client.start_orchestration(
                endpoint, orchestrator, instance_id, body, content_type, trace_headers))
        except InstanceExists as exists:
            exists.details["lane"] = lane
            raise
    observed.count_forwarded(lane)
    annotate(lane=lane, instance_id=started.instance_id)
    log.debug("start of %s forwarded to lane %s as %s", orchestrator, lane, started.instance_id)
    if draining:
        await client.signal_entity(
            VERSION_MAP_ID, "record_forward", {"lane": lane, "at": datetime.now(timezone.utc).isoformat()})
    return started
