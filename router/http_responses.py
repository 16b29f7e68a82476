"""What every HTTP function of the router shares: JSON responses, error bodies, request bodies.

Every error response is built by `error_response`, from `RouterError.body()`.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import azure.functions as func

from router.errors import BadRequest, RouterError

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
