"""The Durable HTTP API over the engine, in its two encodings.

*Public* (`/runtime/webhooks/durabletask/...`, system key): as documented for Azure; bodies are
plain JSON. *RPC* (`rpcBaseUrl`, loopback, no key): what the SDK's DurableOrchestrationClient
calls; it posts `json=<JSON text>`, so inputs, event data and entity inputs arrive as a JSON
string holding JSON text, and it reads every response body as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from devhost.durable_urls import management_urls
from devhost.engine import (
    IN_FLIGHT,
    TERMINAL,
    DurableEngine,
    EngineError,
    InstanceExists,
    InstanceNotFound,
    InstanceNotRunning,
    InstanceQuery,
    RuntimeStatus,
    UnknownFunction,
)
from devhost.errors import InvalidApiRequest

log = logging.getLogger("devhost.durable")

CONTINUATION_HEADER = "x-ms-continuation-token"

# The one place an engine error becomes an HTTP status (as the extension answers). A start of an
# unknown orchestrator is the one exception: see `_start`.
ENGINE_ERROR_STATUS: dict[type[EngineError], int] = {
    InstanceNotFound: 404,
    InstanceExists: 409,
    InstanceNotRunning: 410,
    UnknownFunction: 404,
}


def _json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(value), content_type="application/json", headers=headers
    )


def engine_error_status(error: EngineError) -> int:
    """The HTTP status of an engine error (500 for one the table does not know)."""
    return next((status for kind, status in ENGINE_ERROR_STATUS.items() if isinstance(error, kind)), 500)


def error_response(status: int, message: str) -> web.Response:
    """Every error of this API. `ExceptionMessage` is the field the SDK's start_new reads."""
    code = HTTPStatus(status).phrase.replace(" ", "")  # e.g. "NotFound"
    return _json_response(status, {"error": code, "message": message, "ExceptionMessage": message})


def _parse_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise InvalidApiRequest(f"{value!r} is not true or false")
    return lowered == "true"


def _parse_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise InvalidApiRequest(f"{name}={value!r} is not an ISO 8601 time") from None


def _parse_statuses(value: str | None) -> list[str] | None:
    if not value:
        return None
    statuses = []
    for raw in value.split(","):
        status = RuntimeStatus.parse(raw)
        if status is None:
            raise InvalidApiRequest(f"runtimeStatus {raw.strip()!r} is not one of {', '.join(RuntimeStatus)}")
        statuses.append(status.value)
    return statuses


def instance_query(query: Any, continuation_token: str | None) -> InstanceQuery:
    top = query.get("top")
    top_value: int | None = None
    if top is not None:
        try:
            top_value = int(top)
        except ValueError:
            raise InvalidApiRequest(f"top={top!r} is not a number") from None
        if top_value <= 0:
            raise InvalidApiRequest("top must be positive")
    return InstanceQuery(
        runtime_status=_parse_statuses(query.get("runtimeStatus")),
        created_from=_parse_time("createdTimeFrom", query.get("createdTimeFrom")),
        created_to=_parse_time("createdTimeTo", query.get("createdTimeTo")),
        instance_id_prefix=query.get("instanceIdPrefix") or None,
        top=top_value,
        continuation_token=continuation_token or None,
        show_input=_parse_bool(query.get("showInput"), True),
    )


class DurableApi:
    """Handles one request of either encoding; `rpc` selects the SDK's wire format."""

    def __init__(self, engine: DurableEngine, task_hub: str, system_key: str) -> None:
        self._engine = engine
        self._task_hub = task_hub
        self._system_key = system_key

    # --- body decoding ----------------------------------------------------------------------

    async def _json_text(self, request: web.Request, rpc: bool) -> str | None:
        """The request's payload as JSON text, or None for no payload."""
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidApiRequest("the request body is not valid JSON") from None
        if rpc:
            # The SDK sends json.dumps(text): one more decode gives the payload's JSON text.
            if value is None:
                return None
            if isinstance(value, str):
                try:
                    json.loads(value)
                    return value
                except json.JSONDecodeError:
                    pass  # a plain string payload sent without the second encoding
            return json.dumps(value)
        return raw.decode("utf-8")

    def _payload(self, request: web.Request, instance_id: str) -> dict[str, str]:
        return management_urls(str(request.url.origin()), self._task_hub, self._system_key, instance_id)

    # --- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: web.Request, subpath: str, *, rpc: bool) -> web.Response:
        parts = [p for p in subpath.strip("/").split("/")]
        method = request.method
        route: Callable[[], Awaitable[web.Response]] | None = None
        if parts[0] == "orchestrators" and len(parts) in (2, 3) and method == "POST":
            route = lambda: self._start(request, parts[1], parts[2] if len(parts) == 3 else None, rpc)  # noqa: E731
        elif parts == ["instances"] and method == "GET":
            route = lambda: self._query(request, rpc)  # noqa: E731
        elif parts == ["instances"] and method == "DELETE":
            route = lambda: self._purge_many(request)  # noqa: E731
        elif parts[0] == "instances" and len(parts) == 2 and method == "GET":
            route = lambda: self._status(request, parts[1], rpc)  # noqa: E731
        elif parts[0] == "instances" and len(parts) == 2 and method == "DELETE":
            route = lambda: self._purge(parts[1])  # noqa: E731
        elif parts[0] == "instances" and len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
            route = lambda: self._raise_event(request, parts[1], parts[3], rpc)  # noqa: E731
        elif parts[0] == "instances" and len(parts) == 3 and method == "POST":
            route = lambda: self._instance_operation(request, parts[1], parts[2], rpc)  # noqa: E731
        elif parts[0] == "entities" and len(parts) == 3 and method == "POST":
            route = lambda: self._signal_entity(request, parts[1], parts[2], rpc)  # noqa: E731
        elif parts[0] == "entities" and len(parts) == 2 and method == "GET":
            route = lambda: self._list_entities(request, parts[1])  # noqa: E731
        elif parts[0] == "entities" and len(parts) == 3 and method == "GET":
            route = lambda: self._read_entity(parts[1], parts[2])  # noqa: E731
        if route is None:
            return error_response(404, f"no Durable HTTP API operation {method} {subpath}")
        try:
            return await route()
        except InvalidApiRequest as exc:
            return error_response(400, str(exc))
        except EngineError as exc:
            return error_response(engine_error_status(exc), str(exc))

    # --- orchestrations ---------------------------------------------------------------------

    async def _start(
        self, request: web.Request, name: str, instance_id: str | None, rpc: bool
    ) -> web.Response:
        input_json = await self._json_text(request, rpc)
        try:
            started = await self._engine.start_orchestration(name, input_json, instance_id)
        except UnknownFunction as exc:
            # The SDK's start_new expects 400 with ExceptionMessage for an unknown orchestrator.
            return error_response(400, str(exc) or f"orchestrator {name} not found")
        payload = self._payload(request, started)
        timeout = request.query.get("timeout")
        if not rpc and timeout:
            waited = await self._wait_for_completion(request, started, timeout)
            if waited is not None:
                return waited
        return _json_response(202, payload, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"})

    async def _wait_for_completion(
        self, request: web.Request, instance_id: str, timeout: str
    ) -> web.Response | None:
        """createAndWaitOnNewInstance: the output if the instance ends within `timeout` seconds."""
        try:
            deadline = float(timeout)
            interval = float(request.query.get("pollingInterval") or 1)
        except ValueError:
            raise InvalidApiRequest("timeout and pollingInterval must be numbers of seconds") from None
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while True:
            status = await self._engine.get_status(instance_id, show_input=False)
            runtime = status.get("runtimeStatus") if status else None
            if runtime == RuntimeStatus.COMPLETED:
                return _json_response(200, status.get("output") if status else None)
            if runtime in TERMINAL:  # failed, terminated or canceled
                return _json_response(500 if runtime == RuntimeStatus.FAILED else 200, status)
            if loop.time() >= end:
                return None
            await asyncio.sleep(max(0.05, min(interval, end - loop.time())))

    async def _status(self, request: web.Request, instance_id: str, rpc: bool) -> web.Response:
        status = await self._engine.get_status(
            instance_id,
            show_input=_parse_bool(request.query.get("showInput"), True),
            show_history=_parse_bool(request.query.get("showHistory"), False),
            show_history_output=_parse_bool(request.query.get("showHistoryOutput"), False),
        )
        if status is None:
            return error_response(404, f"no instance with id {instance_id!r}")
        if rpc and "historyEvents" in status:
            # The SDK's DurableOrchestrationStatus reads the history under `history`.
            status = {**status, "history": status["historyEvents"]}
        runtime = status.get("runtimeStatus")
        if runtime in IN_FLIGHT:
            return _json_response(202, status, {"Location": str(request.url), "Retry-After": "10"})
        fail_with_500 = _parse_bool(request.query.get("returnInternalServerErrorOnFailure"), False)
        return _json_response(500 if runtime == RuntimeStatus.FAILED and fail_with_500 else 200, status)

    async def _query(self, request: web.Request, rpc: bool) -> web.Response:
        token = request.headers.get(CONTINUATION_HEADER)
        query = instance_query(request.query, token)
        if rpc:
            # The SDK's get_status_all/by do not page: give them everything in one answer.
            query = replace(query, top=None)
        page, next_token = await self._engine.query_instances(query)
        headers = {CONTINUATION_HEADER: next_token} if next_token else None
        return _json_response(200, page, headers)

    async def _purge(self, instance_id: str) -> web.Response:
        deleted = await self._engine.purge(instance_id)
        if deleted == 0:
            return error_response(404, f"no instance with id {instance_id!r}")
        return _json_response(200, {"instancesDeleted": deleted})

    async def _purge_many(self, request: web.Request) -> web.Response:
        query = instance_query(request.query, None)
        deleted = await self._engine.purge_many(query)
        if deleted == 0:
            return error_response(404, "no instance matched")
        return _json_response(200, {"instancesDeleted": deleted})

    async def _raise_event(
        self, request: web.Request, instance_id: str, event_name: str, rpc: bool
    ) -> web.Response:
        data_json = await self._json_text(request, rpc)
        await self._engine.raise_event(instance_id, event_name, data_json)
        return web.Response(status=202)

    async def _instance_operation(
        self, request: web.Request, instance_id: str, operation: str, rpc: bool
    ) -> web.Response:
        reason = request.query.get("reason") or None
        if operation == "terminate":
            await self._engine.terminate(instance_id, reason)
        elif operation == "suspend":
            await self._engine.suspend(instance_id, reason)
        elif operation == "resume":
            await self._engine.resume(instance_id, reason)
        elif operation == "restart":
            return await self._restart(request, instance_id, rpc)
        elif operation == "rewind":
            # As the extension: 404 for an unknown instance, 410 unless it failed. Then a JSON
            # string body: the SDK's rewind raises it as the error message.
            status = await self._engine.get_status(instance_id, show_input=False)
            if status is None:
                return error_response(404, f"no instance with id {instance_id!r}")
            if status["runtimeStatus"] != RuntimeStatus.FAILED:
                return error_response(410, "only failed orchestration instances can be rewound")
            return _json_response(501, "rewind is not supported by the dev host")
        else:
            return error_response(404, f"no instance operation {operation!r}")
        return web.Response(status=202)

    async def _restart(self, request: web.Request, instance_id: str, rpc: bool) -> web.Response:
        """Start the instance's orchestrator again with its original input."""
        new_id_wanted = _parse_bool(request.query.get("restartWithNewInstanceId"), True)
        status = await self._engine.get_status(instance_id, show_input=True)
        if status is None:
            return error_response(404, f"no instance with id {instance_id!r}")
        target = uuid.uuid4().hex if new_id_wanted else instance_id
        input_json = json.dumps(status.get("input")) if status.get("input") is not None else None
        # Same id: the engine replaces a finished instance and refuses a running one (409).
        started = await self._engine.start_orchestration(status["name"], input_json, target)
        if rpc:
            return _json_response(202, started)
        payload = self._payload(request, started)
        return _json_response(202, payload, {"Location": payload["statusQueryGetUri"]})

    # --- entities ---------------------------------------------------------------------------

    async def _signal_entity(self, request: web.Request, name: str, key: str, rpc: bool) -> web.Response:
        input_json = await self._json_text(request, rpc)
        operation = request.query.get("op", "")
        await self._engine.signal_entity(name, key, operation, input_json)
        return web.Response(status=202)

    async def _read_entity(self, name: str, key: str) -> web.Response:
        exists, state_json = await self._engine.read_entity(name, key)
        if not exists:
            return error_response(404, f"entity @{name.lower()}@{key} does not exist")
        return web.Response(
            status=200, text=state_json if state_json is not None else "null", content_type="application/json"
        )

    async def _list_entities(self, request: web.Request, name: str) -> web.Response:
        """List entities of one kind: `fetchState`, `top` and continuation-token paging."""
        fetch_state = _parse_bool(request.query.get("fetchState"), False)
        query = instance_query(request.query, request.headers.get(CONTINUATION_HEADER))
        query = InstanceQuery(
            instance_id_prefix=f"@{name.lower()}@",
            top=query.top,
            continuation_token=query.continuation_token,
            show_input=False,
        )
        page, next_token = await self._engine.query_instances(query)
        entities = []
        for status in page:
            key = status["instanceId"].split("@", 2)[2]
            entry: dict[str, Any] = {
                "entityId": {"name": name.lower(), "key": key},
                "lastOperationTime": status.get("lastUpdatedTime"),
            }
            if fetch_state:
                exists, state_json = await self._engine.read_entity(name, key)
                if not exists:
                    continue
                entry["state"] = json.loads(state_json) if state_json else None
            entities.append(entry)
        headers = {CONTINUATION_HEADER: next_token} if next_token else None
        return _json_response(200, entities, headers)
