"""Admin HTTP (admin keys): the version map, in-flight status across lanes, instances
across lanes, and the lane commands close, forced retire and set current (rollback).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
import json
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from router import runtime
from router import version_map as vm
from router.runtime import lane_app
from router.auth import Role
from router.continuation import ContinuationTokens, Page, router_signer
from router.patch_gate import TICKET_HEADER, issue_ticket
from router.errors import BadRequest, Conflict, LaneGone, LaneTimeout, RouterError, UnknownLane
from router.http_responses import ROUTE_PREFIX, json_body, json_response, public_base_url, serve
from router.map_client import read_version_map, run_map_command
from router.map_view import ramp_view, version_map_view
from router.lane_client import LaneEndpoint
from router.runtime_status import RuntimeStatus
from router.urls import RouterRoutes
from router.lanes import WITH_APP, LaneState, VersionMap
from router.settings import Settings
from router.durable_inputs import to_json
from router.lanes import plan_to_dict
from router.validation import check_flag, check_top, parse_ramp
from router.versions import lane_sort_key, parse_lane_key

bp = df.Blueprint()
log = logging.getLogger("router.admin")

# How long GET /api/status waits for one lane's count: under the release CLI's default HTTP
# timeout (30 s), so a hung lane is named in the answer rather than timing out the gate's call.
STATUS_LANE_SECONDS = 20.0
_CONTINUATION_HEADER = "x-ms-continuation-token"



def _lanes_with_apps(vmap: VersionMap, only: str | None = None) -> list[str]:
    return [k for k in vmap.known_lanes()
            if vmap.lanes[k].state in WITH_APP and vmap.lanes[k].app_url and (only is None or k == only)]


@bp.route(route="versionmap", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_version_map(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        vmap = await read_version_map(client)
        now = datetime.now(timezone.utc).isoformat()
        return json_response(200, version_map_view(vmap, runtime.current().settings.max_lanes, now))

    return await serve(req, Role.ADMIN, handle)


@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The deployment gate for every version at once: is anything still running, per lane."""

    async def handle() -> func.HttpResponse:
        rt = runtime.current()
        vmap = await read_version_map(client)
        keys = _lanes_with_apps(vmap)

        async def counted(key: str) -> dict[str, Any]:
            state = vmap.lanes[key].state.value
            try:
                # Bounded: a lane that hangs would otherwise hold the answer for its client's every
                # retry, past the caller's own timeout, and the gate would blame the router.
                counts = await asyncio.wait_for(rt.call_lane(
                    lane_app(vmap.lanes[key]), lambda endpoint: rt.lane_client.count_in_flight(endpoint)
                ), STATUS_LANE_SECONDS)
            except asyncio.TimeoutError:
                error = LaneTimeout(f"Lane {key} did not answer within {STATUS_LANE_SECONDS:g} s.", lane=key)
                return {"state": state, "error": error.body()}
            except RouterError as error:
                return {"state": state, "error": error.body()}
            return {"running": counts.running, "pending": counts.pending, "suspended": counts.suspended,
                    "state": state}

        # Lanes are asked at once: one slow lane costs its own time, not every later lane's.
        lanes: dict[str, Any] = dict(zip(keys, await asyncio.gather(*(counted(key) for key in keys))))
        for key in keys:
            lane = vmap.lanes[key]
            if lane.unhealthy is not None:  # the condition the lifecycle saw, with its reason and time
                lanes[key]["unhealthy"] = {"code": lane.unhealthy.code, "message": lane.unhealthy.message,
                                           "since": lane.unhealthy_since}
        has_running = any(
            "error" in lane or lane["running"] + lane["pending"] + lane["suspended"] > 0 for lane in lanes.values()
        )
        return json_response(200, {"hasRunning": has_running, "lanes": lanes})

    return await serve(req, Role.ADMIN, handle)


@bp.route(route="instances", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def list_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Instances across lanes, paged: the continuation token names the lane and its own token."""

    async def handle() -> func.HttpResponse:
        rt = runtime.current()
        statuses = _runtime_statuses(req.params.get("runtimeStatus"))
        only = parse_lane_key(req.params["lane"], "lane") if "lane" in req.params else None
        top = check_top(req.params.get("top"))
        token, token_field = req.params.get("continuationToken"), "continuationToken"
        if token is None and req.headers.get(_CONTINUATION_HEADER) is not None:
            token, token_field = req.headers.get(_CONTINUATION_HEADER), _CONTINUATION_HEADER
        tokens = _tokens(rt.settings)
        # A token continues the query it was issued for: the same filters, whatever the page size.
        scope = json.dumps({"runtimeStatus": statuses, "lane": only})
        start = tokens.read(scope, token, token_field) if token is not None else None
        vmap = await read_version_map(client)
        lanes = _lanes_with_apps(vmap, only)
        # The lane the token names, or the next one in order should it have gone since.
        lane_index = 0 if start is None else next(
            (i for i, key in enumerate(lanes) if lane_sort_key(key) >= lane_sort_key(start.lane)), len(lanes))
        lane_token = start.lane_token if start is not None and lane_index < len(lanes) \
            and lanes[lane_index] == start.lane else None
        instances: list[dict[str, Any]] = []
        next_token = None
        while lane_index < len(lanes) and len(instances) < top:
            key = lanes[lane_index]
            routes = RouterRoutes(public_base_url(req), ROUTE_PREFIX, key)

            async def page(endpoint: LaneEndpoint, token=lane_token, routes=routes):  # type: ignore[no-untyped-def]
                return await rt.lane_client.list_instances(
                    endpoint, statuses or None, top - len(instances), token, routes=routes
                )

            items, lane_token = await rt.call_lane(lane_app(vmap.lanes[key]), page)
            instances.extend({**item, "lane": key} for item in items)
            if lane_token is None:
                lane_index += 1
        if lane_index < len(lanes):
            next_token = tokens.issue(scope, Page(lanes[lane_index], lane_token))
        headers = {_CONTINUATION_HEADER: next_token} if next_token else {}
        return json_response(200, {"instances": instances, "continuationToken": next_token}, headers=headers)

    return await serve(req, Role.ADMIN, handle)


# A page of histories is read from the lane this many instances at a time.
_HISTORY_READS_AT_ONCE = 8
_HISTORIES_PAGE = 50  # default page size: a history carries every input and output it saw


@bp.route(route="lanes/{lane}/histories", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def lane_histories(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The lane's in-flight orchestrations with their histories, inputs and outputs, as NDJSON:
    one status document per line as the lane's Durable HTTP API answers
    `instances/{id}?showHistory=true&showHistoryOutput=true&showInput=true`, what
    `python -m devhost replay --histories` and `router.cli check-patch` read. Admin only: the
    histories carry every input and output the orchestrations saw.

    The Functions Python worker answers an `HttpResponse` whole. Streaming needs the
    azurefunctions-extensions-http-fastapi types, and turning HTTP streams on switches every HTTP
    function of the app to them ("the original HTTP functionality will not work",
    https://techcommunity.microsoft.com/blog/azurecomputeblog/azure-functions-support-for-http-streams-in-python-is-now-in/4146697),
    so a page is read from the lane and sent as one body; `top` bounds it and the continuation
    token (header or `continuationToken`) fetches the next.
    """

    async def handle() -> func.HttpResponse:
        rt = runtime.current()
        lane_key = parse_lane_key(req.route_params.get("lane", ""))
        top = check_top(req.params.get("top"), default=_HISTORIES_PAGE)
        token, token_field = req.params.get("continuationToken"), "continuationToken"
        if token is None and req.headers.get(_CONTINUATION_HEADER) is not None:
            token, token_field = req.headers.get(_CONTINUATION_HEADER), _CONTINUATION_HEADER
        tokens = _tokens(rt.settings)
        scope = json.dumps({"histories": lane_key})
        start = tokens.read(scope, token, token_field) if token is not None else None
        vmap = await read_version_map(client)
        lane = vmap.lanes.get(lane_key)
        if lane is None:
            raise UnknownLane(f"No release was posted for lane {lane_key}.", lane=lane_key,
                              knownLanes=vmap.known_lanes(), field="lane")
        if lane.state is LaneState.DELETED:
            raise LaneGone(f"Lane {lane_key} was deleted with its instances.", lane=lane_key, state=lane.state.value)
        if lane.state not in WITH_APP or lane.app is None:
            raise Conflict(f"Lane {lane_key} is {lane.state.value}: it has no app serving instances to read.",
                           lane=lane_key, state=lane.state.value)
        routes = RouterRoutes(public_base_url(req), ROUTE_PREFIX, lane_key)

        async def page(endpoint: LaneEndpoint) -> tuple[list[dict[str, Any]], str | None]:
            ids, lane_token = await rt.lane_client.in_flight_page(endpoint, top, start.lane_token if start else None)
            gate = asyncio.Semaphore(_HISTORY_READS_AT_ONCE)

            async def read(instance_id: str) -> dict[str, Any] | None:
                async with gate:
                    return await rt.lane_client.history(endpoint, instance_id, routes=routes)

            documents = await asyncio.gather(*(read(instance_id) for instance_id in ids))
            # An instance purged between the list and its read is simply not there any more.
            return [document for document in documents if document is not None], lane_token

        documents, lane_token = await rt.call_lane(lane_app(lane), page)
        # Every page answers a fresh ticket: check-patch posts its first page's with the replayCheck,
        # the proof intake needs that these histories came from this router, for this lane, recently.
        headers = {TICKET_HEADER: issue_ticket(tokens, lane_key, datetime.now(timezone.utc))}
        if lane_token is not None:
            headers[_CONTINUATION_HEADER] = tokens.issue(scope, Page(lane_key, lane_token))
        body = "".join(json.dumps(document, separators=(",", ":")) + "\n" for document in documents)
        return func.HttpResponse(body.encode(), status_code=200, mimetype="application/x-ndjson", headers=headers)

    return await serve(req, Role.ADMIN, handle)


def _runtime_statuses(text: str | None) -> list[str]:
    """`runtimeStatus=A,B` as the statuses' own names; 400 naming the field for any other."""
    if text is None:
        return []
    names = text.split(",")
    parsed = [RuntimeStatus.parse(name) for name in names]
    if not text or any(status is None for status in parsed):
        raise BadRequest(
            "runtimeStatus must be a comma-separated list of " + ", ".join(s.value for s in RuntimeStatus) + ".",
            accepted=[s.value for s in RuntimeStatus], field="runtimeStatus",
        )
    return [status.value for status in parsed if status is not None]


def _tokens(settings: Settings) -> ContinuationTokens:
    return router_signer(settings)


async def _known_lane(client: df.DurableOrchestrationClient, lane: str) -> None:
    """404 naming the lane before a command for a lane the map never had starts an orchestration."""
    vmap = await read_version_map(client)
    if lane not in vmap.lanes:
        raise UnknownLane(f"No release was posted for lane {lane}.", lane=lane, knownLanes=vmap.known_lanes(),
                          field="lane")


@bp.route(route="lanes/{lane}/close", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def close_lane(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        lane = parse_lane_key(req.route_params.get("lane", ""))
        await _known_lane(client, lane)
        result = await run_map_command(client, "close", {"lane": lane}, wake_lane=lane)
        runtime.current().map_cache.invalidate()
        return json_response(200, {"lane": lane, "state": result["state"], "closed": result["closed"]})

    return await serve(req, Role.ADMIN, handle)


@bp.route(route="lanes/{lane}/retire", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def retire_lane(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        lane = parse_lane_key(req.route_params.get("lane", ""))
        force = check_flag(req.params.get("force"), "force")
        await _known_lane(client, lane)
        result = await run_map_command(client, "retire", {"lane": lane, "force": force}, wake_lane=lane)
        if force:
            log.warning("lane %s force-retired by an administrator with %s instance(s) at the last check",
                        lane, result["drain"]["remaining"])
        runtime.current().map_cache.invalidate()
        return json_response(202, {"lane": lane, "state": result["state"], "forced": force})

    return await serve(req, Role.ADMIN, handle)


async def _start_ramp(client: df.DurableOrchestrationClient, lane: str, plan: dict[str, Any]) -> func.HttpResponse:
    """`POST /api/current` with a ramp: the lane takes version-less starts step by step; the
    current lane stays current until the ramp completes (202: it is under way)."""
    rt = runtime.current()
    result = VersionMap.from_dict(await run_map_command(
        client, "start_ramp", {"lane": lane, "ramp": plan}, drive_ramp=to_json(rt.timing())))
    rt.map_cache.invalidate()
    assert result.ramp is not None
    return json_response(202, {"current": result.current, "ramp": ramp_view(result.ramp)})


@bp.route(route="current", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def set_current(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        data = json_body(req, accepted=("lane", "ramp"))
        lane = parse_lane_key(data.get("lane"), "lane")
        plan = parse_ramp(data["ramp"]) if "ramp" in data else None
        await _known_lane(client, lane)
        if plan is not None:
            # Refused now, before a map command runs (a refusal changes nothing, not even the
            # router's instances); the map entity checks again authoritatively.
            vm.start_ramp(await read_version_map(client), lane, plan=plan, at=datetime.now(timezone.utc).isoformat())
            return await _start_ramp(client, lane, plan_to_dict(plan))
        result = await run_map_command(client, "set_current", {"lane": lane}, wake_lane=lane)
        runtime.current().map_cache.invalidate()
        return json_response(200, {"current": lane, "state": result["state"], "version": result["deployed_version"]})

    return await serve(req, Role.ADMIN, handle)
