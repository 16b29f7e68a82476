"""Admin HTTP (auth level ADMIN): the version map, in-flight status across lanes, instances
across lanes, and the lane commands close, forced retire and set current (rollback).
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
import json
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from router import runtime
from router.runtime import lane_app
from router.errors import BadRequest, RouterError
from router.http_responses import ROUTE_PREFIX, guarded, json_body, json_response, public_base_url
from router.map_client import read_version_map, run_map_command
from router.map_view import version_map_view
from router.lane_client import LaneEndpoint
from router.runtime_status import RuntimeStatus
from router.urls import RouterRoutes
from router.lanes import WITH_APP, VersionMap
from router.versions import parse_lane_key

bp = df.Blueprint()
log = logging.getLogger("router.admin")



def _lanes_with_apps(vmap: VersionMap, only: str | None = None) -> list[str]:
    return [k for k in vmap.known_lanes()
            if vmap.lanes[k].state in WITH_APP and vmap.lanes[k].app_url and (only is None or k == only)]


@bp.route(route="versionmap", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def get_version_map(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        vmap = await read_version_map(client)
        now = datetime.now(timezone.utc).isoformat()
        return json_response(200, version_map_view(vmap, runtime.current().settings.max_lanes, now))

    return await guarded(handle)


@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def get_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The deployment gate for every version at once: is anything still running, per lane."""

    async def handle() -> func.HttpResponse:
        rt = runtime.current()
        vmap = await read_version_map(client)
        lanes: dict[str, Any] = {}
        for key in _lanes_with_apps(vmap):
            try:
                counts = await rt.call_lane(
                    lane_app(vmap.lanes[key]), lambda endpoint: rt.lane_client.count_in_flight(endpoint)
                )
                lanes[key] = {"running": counts.running, "pending": counts.pending, "suspended": counts.suspended,
                              "state": vmap.lanes[key].state.value}
            except RouterError as error:
                lanes[key] = {"state": vmap.lanes[key].state.value, "error": error.body()}
        has_running = any(
            "error" in lane or lane["running"] + lane["pending"] + lane["suspended"] > 0 for lane in lanes.values()
        )
        return json_response(200, {"hasRunning": has_running, "lanes": lanes})

    return await guarded(handle)


@bp.route(route="instances", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def list_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Instances across lanes, paged: the continuation token names the lane and its own token."""

    async def handle() -> func.HttpResponse:
        rt = runtime.current()
        statuses = [s for s in (req.params.get("runtimeStatus") or "").split(",") if s]
        unknown = [s for s in statuses if RuntimeStatus.parse(s) is None]
        if unknown:
            raise BadRequest(f"Unknown runtimeStatus {', '.join(unknown)}.", accepted=[s.value for s in RuntimeStatus])
        only = parse_lane_key(req.params["lane"]) if req.params.get("lane") else None
        try:
            top = int(req.params.get("top") or 100)
            if not 1 <= top <= 1000:
                raise ValueError
        except ValueError:
            raise BadRequest("top must be a whole number from 1 to 1000.") from None
        lane_index, lane_token = _decode_token(req.params.get("continuationToken")
                                               or req.headers.get("x-ms-continuation-token"))
        vmap = await read_version_map(client)
        lanes = _lanes_with_apps(vmap, only)
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
            next_token = _encode_token(lane_index, lane_token)
        headers = {"x-ms-continuation-token": next_token} if next_token else {}
        return json_response(200, {"instances": instances, "continuationToken": next_token}, headers=headers)

    return await guarded(handle)


def _encode_token(lane_index: int, lane_token: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps([lane_index, lane_token]).encode()).decode()


def _decode_token(token: str | None) -> tuple[int, str | None]:
    if not token:
        return 0, None
    try:
        lane_index, lane_token = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(lane_index), lane_token
    except (ValueError, TypeError):
        raise BadRequest("The continuation token is not one this router issued.") from None


@bp.route(route="lanes/{lane}/close", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def close_lane(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        lane = parse_lane_key(req.route_params.get("lane", ""))
        result = await run_map_command(client, "close", {"lane": lane}, wake_lane=lane)
        runtime.current().map_cache.invalidate()
        return json_response(200, {"lane": lane, "state": result["state"], "closed": result["closed"]})

    return await guarded(handle)


@bp.route(route="lanes/{lane}/retire", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def retire_lane(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        lane = parse_lane_key(req.route_params.get("lane", ""))
        force = (req.params.get("force") or "").lower() in ("true", "1", "yes")
        result = await run_map_command(client, "retire", {"lane": lane, "force": force}, wake_lane=lane)
        if force:
            log.warning("lane %s force-retired by an administrator with %s instance(s) at the last check",
                        lane, result["drain"]["remaining"])
        runtime.current().map_cache.invalidate()
        return json_response(202, {"lane": lane, "state": result["state"], "forced": force})

    return await guarded(handle)


@bp.route(route="current", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def set_current(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def handle() -> func.HttpResponse:
        data = json_body(req)
        lane = parse_lane_key(str(data.get("lane") or ""))
        result = await run_map_command(client, "set_current", {"lane": lane}, wake_lane=lane)
        runtime.current().map_cache.invalidate()
        return json_response(200, {"current": lane, "state": result["state"], "version": result["deployed_version"]})

    return await guarded(handle)
