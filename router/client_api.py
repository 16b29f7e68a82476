"""Client-facing HTTP: start an orchestration on its version's lane, manage its instances.

`POST /api/orchestrators/{name}[/{instanceId}]` decides with the pure routing core over the
cached version map, then forwards to the lane's Durable HTTP API. Answers carry router URLs
only: a lane's host name or key never reaches a client.
"""

from __future__ import annotations

import logging
import random
import uuid

import azure.durable_functions as df
import azure.functions as func

from router import runtime
from router.durable_inputs import HeldRequestInput
from router.errors import (
    BadRequest, LaneFailed, LaneGone, LaneUnhealthy, LaneUnreachable, NotFound, UnknownLane, UnknownRoute,
    error_from_body,
)
from router.forwarding import forward_start
from router.auth import Role
from router.http_responses import ROUTE_PREFIX, error_response, json_response, public_base_url, router_url, serve
from router.instance_actions import ACCEPTED_FORMS, action_for
from router.lane_types import LaneEndpoint
from router.lanes import LaneState
from router.map_client import cached_map
from router.routing import Forward, check_body, decide, requested_version
from router.runtime import durable_client, lane_app
from router.runtime_status import UNSUCCESSFUL, RuntimeStatus
from router.telemetry import IncomingTrace, annotate, incoming_trace, request_context
from router.telemetry import current as telemetry
from router.urls import RouterRoutes, check_status_payload
from router.validation import check_event_name, check_instance_id, check_orchestrator_name, check_request_id
from router.versions import parse_lane_key

bp = df.Blueprint()
log = logging.getLogger("router.client")

# Every route is anonymous at the Functions host: the router checks role keys itself (serve), since
# on Azure the host's FUNCTION level would take any host key for any route.
#
# The hot routes take the client binding as a plain `durableClient` input (its JSON text, which
# the host passes alike on Azure and in the dev host; the worker hands a durableClient binding
# over as str, azure-functions `durable_functions.py` DurableClientConverter) and reuse one
# client built from it (runtime.durable_client), instead of the SDK's `durable_client_input`,
# which builds a new client on every call.
CLIENT_BINDING = {"arg_name": "client", "type": "durableClient"}

@bp.route(route="orchestrators/{name}/{instanceId?}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.generic_input_binding(**CLIENT_BINDING)
async def start_orchestration(req: func.HttpRequest, client: str, context: func.Context) -> func.HttpResponse:
    # `context.trace_context` is the host's span for this call (telemetry.incoming_trace).
    with request_context():
        return await serve(req, Role.CLIENT, lambda: _start(req, durable_client(client), incoming_trace(context, req.headers)))


async def _start(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, trace: IncomingTrace | None = None,
) -> func.HttpResponse:
    rt = runtime.current()
    settings = rt.settings
    name = check_orchestrator_name(req.route_params.get("name", ""))
    instance_id = req.route_params.get("instanceId")
    instance_id = check_instance_id(instance_id) if instance_id else None
    version = requested_version(req.headers.get(settings.version_header), req.params.get("version"), settings)
    body = req.get_body() or b""
    check_body(body, settings)
    vmap = await cached_map(client)
    # During a ramp a version-less start without an instance id is placed by this draw.
    draw = random.random() * 100.0  # [0, 100)
    try:
        decision = decide(vmap, version, settings, instance_id=instance_id, draw=draw)
    except (UnknownLane, LaneFailed, LaneGone, LaneUnhealthy):
        # Refusals are rare and a cached map may predate the release that fixes them:
        # decide again on the map as it is now. (Forwarding from the cache is safe: see MapCache.)
        vmap = await cached_map(client, fresh=True)
        decision = decide(vmap, version, settings, instance_id=instance_id, draw=draw)
    content_type = req.headers.get("Content-Type") or "application/json"
    if not isinstance(decision, Forward):
        held_id = f"held-{uuid.uuid4().hex}"
        held = HeldRequestInput(
            lane=decision.lane, version=str(version) if version else "", orchestrator=name,
            instance_id=instance_id, body=body.decode("utf-8"), content_type=content_type,
            start_lazy_lane=decision.start_lazy_lane, timing=rt.timing(),
            traceparent=trace.traceparent if trace else "", tracestate=trace.tracestate if trace else "",
        )
        await client.start_new("held_request", held_id, held.to_dict())
        annotate(lane=decision.lane, version=held.version or None, instance_id=held_id)
        telemetry().count_held(decision.lane)
        log.info("start of %s held for lane %s as %s", name, decision.lane, held_id)
        status_url = router_url(req, f"held/{held_id}")
        return json_response(
            202,
            {"id": held_id, "held": True, "lane": decision.lane, "version": held.version or None,
             "statusQueryGetUri": status_url,
             "message": f"Lane {decision.lane} is provisioning; the request is held and forwarded once it is active."},
            headers={"Location": status_url, "Retry-After": "2"},
        )
    annotate(lane=decision.lane, version=decision.version)
    started = await forward_start(
        rt, client, lane=decision.lane, app=lane_app(vmap.lanes[decision.lane]), draining=decision.draining,
        orchestrator=name, instance_id=instance_id, body=body, content_type=content_type, trace=trace,
    )
    routes = RouterRoutes(public_base_url(req), ROUTE_PREFIX, decision.lane)
    payload = {**check_status_payload(routes, started.instance_id), "lane": decision.lane, "version": decision.version}
    return json_response(202, payload, headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"})


@bp.route(route="held/{heldId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.generic_input_binding(**CLIENT_BINDING)
async def held_status(req: func.HttpRequest, client: str) -> func.HttpResponse:
    with request_context(instance_id=req.route_params.get("heldId")):
        return await serve(req, Role.CLIENT, lambda: _held_status(req, durable_client(client)))


async def _held_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    held_id = check_request_id(req.route_params.get("heldId", ""), field="heldId")
    status = await client.get_status(held_id) if held_id.startswith("held-") else None
    runtime_status = RuntimeStatus.parse(status.runtime_status) if status else None
    if status is None or runtime_status is None:
        raise NotFound(f"No held request {held_id}.", id=held_id, field="heldId")
    if runtime_status in UNSUCCESSFUL:
        raise LaneUnreachable(f"The held request could not be forwarded ({runtime_status}).", id=held_id)
    info = status.output if runtime_status is RuntimeStatus.COMPLETED else status.custom_status
    info = dict(info or {"state": "held"})
    if info.get("state") == "forwarded":
        routes = RouterRoutes(public_base_url(req), ROUTE_PREFIX, info["lane"])
        return json_response(200, {**info, **check_status_payload(routes, info["instanceId"])})
    if info.get("state") == "failed":
        error = error_from_body(int(info.get("status") or 500), dict(info.get("error") or {}))
        error.details.update(lane=info.get("lane"), id=held_id)
        raise error
    return json_response(202, {"id": held_id, **info}, headers={"Retry-After": "2"})


@bp.route(
    route="instances/{lane}/{instanceId}/{action?}/{eventName?}",
    methods=["GET", "POST", "DELETE"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
@bp.generic_input_binding(**CLIENT_BINDING)
async def manage_instance(req: func.HttpRequest, client: str) -> func.HttpResponse:
    with request_context(lane=req.route_params.get("lane"), instance_id=req.route_params.get("instanceId")):
        return await serve(req, Role.CLIENT, lambda: _manage(req, durable_client(client)))


async def _manage(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    rt = runtime.current()
    lane_key = parse_lane_key(req.route_params.get("lane", ""))
    instance_id = check_instance_id(req.route_params.get("instanceId", ""))
    action_segment = req.route_params.get("action") or None
    action = action_for(req.method, action_segment)
    if action is None:
        raise BadRequest(
            f"{req.method} {action_segment or ''} is not an instance operation.".replace("  ", " "),
            accepted=list(ACCEPTED_FORMS), field="action",
        )
    event_name = req.route_params.get("eventName") or None
    if action.takes_event_name:
        check_event_name(event_name or "")
    elif event_name is not None:
        raise BadRequest(f"{action_segment or req.method} takes no event name.", field="eventName")
    body = req.get_body() or b""
    if action.method != "GET":
        check_body(body, rt.settings)
    vmap = await cached_map(client)
    lane = vmap.lanes.get(lane_key)
    if lane is None:
        try:
            lane = (await cached_map(client, fresh=True)).lane(lane_key)
        except UnknownLane as error:
            error.details["field"] = "lane"
            raise
    if lane.state is LaneState.DELETED:
        raise LaneGone(f"Lane {lane_key} was deleted with its instances.", lane=lane_key)
    routes = RouterRoutes(public_base_url(req), ROUTE_PREFIX, lane_key)

    async def call(endpoint: LaneEndpoint):  # type: ignore[no-untyped-def]
        return await rt.lane_client.proxy(
            endpoint, req.method, instance_id, action, event_name,
            dict(req.params), body, dict(req.headers), routes=routes,
        )

    proxied = await rt.call_lane(lane_app(lane), call)
    headers = {k: v for k, v in proxied.headers.items() if k in ("content-type", "location", "retry-after")}
    return func.HttpResponse(proxied.body, status_code=proxied.status, headers=headers)


# A route of its own for whatever no other route takes, so a wrong path or method gets a JSON 404
# naming it rather than the host's empty one. A catch-all is tried after every other route.
@bp.route(route="{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
          auth_level=func.AuthLevel.ANONYMOUS)
async def unknown_route(req: func.HttpRequest) -> func.HttpResponse:
    path = "/" + ROUTE_PREFIX + ("/" + req.route_params["path"] if req.route_params.get("path") else "")
    return error_response(UnknownRoute(
        f"No route of the router takes {req.method} {path[:300]!r}; see the README's HTTP API.",
        field="route", method=req.method,
    ))
