"""What every HTTP function of the router shares: its role check, JSON responses, error bodies,
request bodies.

Every error response is built by `error_response`, from `RouterError.body()`. Every route is
anonymous at the Functions host and served through `serve`, which checks the route's role key
before anything else runs (router/auth.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import azure.functions as func

from router import runtime
from router.auth import Role
from router.errors import RouterError
from router.validation import parse_json_object

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


async def serve(
    req: func.HttpRequest, role: Role, handler: Callable[[], Awaitable[func.HttpResponse]]
) -> func.HttpResponse:
    """Check the request's key against `role`'s keys (401/403 JSON), then run `handler` guarded."""

    async def checked() -> func.HttpResponse:
        keys = runtime.current().settings.role_keys
        if keys is not None:
            keys.authorize(req.headers, role)
        return await handler()

    return await guarded(checked)


def public_base_url(req: func.HttpRequest) -> str:
    """scheme://host[:port] as the client reached the router."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def router_url(req: func.HttpRequest, path: str) -> str:
    return f"{public_base_url(req)}/{ROUTE_PREFIX}/{path.lstrip('/')}"


def json_body(req: func.HttpRequest, *, accepted: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The request's body as a JSON object (validation.parse_json's rules, the body size limit);
    with `accepted`, a field not listed is refused by name."""
    limit = runtime.current().settings.max_body_bytes
    return parse_json_object(req.get_body() or b"", limit=limit, accepted=accepted)
