"""What every HTTP function of the router shares: JSON responses, error bodies, map reads.

Every error response is built by `error_response`, from `RouterError.body()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from router.entity import VERSION_MAP_ID
from router.errors import BadRequest, RouterError
from router.map_operations import raise_for_result
from router.runtime import parse_entity_state
from router.version_map import VersionMap

log = logging.getLogger("router.http")

ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers=headers or {}
    )


def error_response(error: RouterError) -> func.HttpResponse:
    return json_response(error.status, error.body())


async def guarded(handler: Callable[[], Awaitable[func.HttpResponse]]) -> func.HttpResponse:
    """Run a handler; typed errors become their JSON response, anything else a logged 500."""
    try:
        return await handler()
    except RouterError as error:
        return error_response(error)
    except Exception:  # the message may hold internals: log it, answer a plain 500
        log.exception("unhandled error in an HTTP function")
        return error_response(RouterError("The router failed to handle the request; see its logs."))


def public_base_url(req: func.HttpRequest) -> str:
    """scheme://host[:port] as the client reached the router."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def router_url(req: func.HttpRequest, path: str) -> str:
    return f"{public_base_url(req)}/{ROUTE_PREFIX}/{path.lstrip('/')}"


def json_body(req: func.HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(req.get_body() or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"The request body is not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


async def read_entity_state(client: df.DurableOrchestrationClient) -> Any:
    """The version-map entity's raw state, None before its first operation."""
    response = await client.read_entity_state(VERSION_MAP_ID)
    return response.entity_state if response.entity_exists else None


async def read_version_map(client: df.DurableOrchestrationClient) -> VersionMap:
    """The entity's state now (admin reads and pre-checks; the forwarder uses the cache)."""
    return parse_entity_state(await read_entity_state(client))


async def run_map_command(
    client: df.DurableOrchestrationClient, operation: str, args: dict[str, Any], *, wake_lane: str | None = None,
    timeout_seconds: float = 30.0,
) -> Any:
    """Apply an admin operation through the entity and wait for its typed result."""
    instance_id = await client.start_new(
        "map_command", None, {"operation": operation, "args": args, "wake_lane": wake_lane}
    )
    deadline = time.monotonic() + timeout_seconds
    delay = 0.02
    while time.monotonic() < deadline:
        status = await client.get_status(instance_id)
        runtime_status = status.runtime_status.value if status and status.runtime_status else None
        if runtime_status == "Completed":
            return raise_for_result(status.output)
        if runtime_status in ("Failed", "Terminated", "Canceled"):
            raise RouterError(f"The version-map command {operation} did not complete ({runtime_status}).")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise RouterError(f"The version-map command {operation} did not complete in {timeout_seconds:.0f} s.")
