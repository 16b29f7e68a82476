"""The Durable HTTP API over the engine, in its two encodings, answering as the extension does.

*Public* (`/runtime/webhooks/durabletask/...`): as the extension's HttpApiHandler.cs answers it
(Azure/azure-functions-durable-extension, src/WebJobs.Extensions.DurableTask/); bodies are plain
JSON. *RPC* (`rpcBaseUrl`, loopback, no key): the same handler as the SDK's
DurableOrchestrationClient calls it; it posts `json=<JSON text>`, so inputs, event data and
entity inputs arrive as a JSON string holding JSON text.

Query parameters are read as the extension reads them: names in any case, and a value its .NET
parser cannot read (`bool.TryParse`, `int.TryParse`, `DateTime.TryParse`, a case-sensitive
`Enum.TryParse`) is dropped, not refused. docs/devhost.md has the parity table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from devhost.durable_urls import management_urls
from devhost.engine import (
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
STATUS_RETRY_AFTER = "5"  # HandleGetStatusRequestAsync: "Ask for 5 seconds before retry"
CHECK_STATUS_RETRY_AFTER = "10"  # CreateCheckStatusResponseMessage (the 202 of a start)
DEFAULT_PAGE_SIZE = 100  # OrchestrationStatusQueryCondition.PageSize and EntityQuery.PageSize
MAX_INSTANCE_ID_LENGTH = 256  # DurableClient.MaxInstanceIdLength
EMPTY_ENTITY_KEY = "$"  # HandleGetEntityRequestAsync: "$" reads the entity with key ""

# HandleRequestAsync's catch-alls and the handlers' own texts.
SOMETHING_WENT_WRONG = "Something went wrong while processing your request"
ARGUMENTS_INCORRECT = "One or more of the arguments submitted is incorrect"
INVALID_JSON = "Invalid JSON content"
JSON_READER_EXCEPTION = "Newtonsoft.Json.JsonReaderException"
ARGUMENT_EXCEPTION = "System.ArgumentException"
INVALID_OPERATION_EXCEPTION = "System.InvalidOperationException"

# The one table from an engine error to the extension's status. InstanceNotFound and
# InstanceNotRunning answer with no body; the others with the extension's error body
# (`engine_error_response`).
ENGINE_ERROR_STATUS: dict[type[EngineError], int] = {
    InstanceNotFound: 404,
    InstanceExists: 500,  # OrchestrationAlreadyExistsException, caught by HandleRequestAsync
    InstanceNotRunning: 410,
    UnknownFunction: 400,  # ThrowIfFunctionDoesNotExist's ArgumentException
}
ALREADY_EXISTS_EXCEPTION = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"

# OrchestrationStatus (DurableTask.Core) by name and by number, as Enum.TryParse reads them.
_STATUS_NUMBERS = {
    "0": RuntimeStatus.RUNNING, "1": RuntimeStatus.COMPLETED, "2": RuntimeStatus.CONTINUED_AS_NEW,
    "3": RuntimeStatus.FAILED, "4": RuntimeStatus.CANCELED, "5": RuntimeStatus.TERMINATED,
    "6": RuntimeStatus.PENDING, "7": RuntimeStatus.SUSPENDED,
}
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


# --- answers: every body of this API is built here -----------------------------------------


def _json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(value), content_type="application/json", headers=headers
    )


def empty_response(status: int) -> web.Response:
    """`request.CreateResponse(status)`: the extension's 404s and 410s carry no body."""
    return web.Response(status=status)


def error_response(status: int, message: str, *, exception_message: str | None = None,
                   exception_type: str | None = None) -> web.Response:
    """HttpRequestMessageExtensions.CreateErrorResponse: `{"Message"}`, plus `ExceptionMessage`,
    `ExceptionType` and `StackTrace` when it answers from an exception (the SDK's start_new
    reads `ExceptionMessage` from a 400)."""
    body: dict[str, Any] = {"Message": message}
    if exception_type is not None:
        body.update(ExceptionMessage=exception_message, ExceptionType=exception_type, StackTrace=None)
    return _json_response(status, body)


def engine_error_status(error: EngineError) -> int:
    """The HTTP status of an engine error (500 for one the table does not know)."""
    return next((status for kind, status in ENGINE_ERROR_STATUS.items() if isinstance(error, kind)), 500)


def engine_error_response(error: EngineError) -> web.Response:
    status = engine_error_status(error)
    if isinstance(error, (InstanceNotFound, InstanceNotRunning)):
        return empty_response(status)
    if isinstance(error, UnknownFunction):
        if error.kind == "entity":  # the entity route's own catch: the exception's message only
            return error_response(status, str(error))
        return error_response(status, ARGUMENTS_INCORRECT, exception_message=str(error),
                              exception_type=ARGUMENT_EXCEPTION)
    kind = ALREADY_EXISTS_EXCEPTION if isinstance(error, InstanceExists) else INVALID_OPERATION_EXCEPTION
    return error_response(status, SOMETHING_WENT_WRONG, exception_message=str(error), exception_type=kind)


def _invalid_request_response(error: InvalidApiRequest) -> web.Response:
    return error_response(400, str(error), exception_message=error.exception_message,
                          exception_type=error.exception_type)


# --- query parameters, parsed as .NET parses them --------------------------------------------


class QueryParams:
    """A request's query as the extension's GetQueryNameValuePairs sees it: names in any case;
    a name given twice reads as its values joined by commas (NameValueCollection)."""

    def __init__(self, query: Any) -> None:
        self._pairs = [(str(k), str(v)) for k, v in query.items()]

    def get(self, name: str) -> str | None:
        values = [v for k, v in self._pairs if k.lower() == name.lower()]
        return ",".join(values) if values else None


def parse_bool(value: str | None, default: bool) -> bool:
    """bool.TryParse: "true"/"false" in any case; anything else leaves the default."""
    lowered = (value or "").strip().lower()
    return {"true": True, "false": False}.get(lowered, default)


def parse_int(value: str | None) -> int | None:
    """int.TryParse; None when it cannot read the value."""
    return int(value) if value is not None and _INT.match(value) else None


def parse_seconds(value: str | None) -> float | None:
    """double.TryParse of a number of seconds."""
    try:
        return float(value) if value is not None and value.strip() else None
    except ValueError:
        return None


def parse_time(value: str | None) -> datetime | None:
    """DateTime.TryParse of an ISO 8601 time; None when it cannot read it."""
    if not value or not value.strip():
        return None
    text = value.strip().replace(" ", "+")  # a '+' of an offset arrives as a space
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_statuses(value: str | None) -> list[str] | None:
    """TryGetIEnumerableQueryParameterValue: each comma-separated value Enum.TryParse reads
    (case-sensitive names, or numbers); the others are dropped. None: no filter."""
    statuses: list[str] = []
    for raw in (value or "").split(","):
        text = raw.strip()
        status = _STATUS_NUMBERS.get(text) or next((s for s in RuntimeStatus if s.value == text), None)
        if status is not None:
            statuses.append(status.value)
    return statuses or None


def page_size(value: str | None) -> int:
    top = parse_int(value)
    # The extension hands a zero or negative page size to the storage provider; the dev host
    # reads it as the default instead of guessing what a provider makes of it.
    return top if top is not None and top > 0 else DEFAULT_PAGE_SIZE


def instance_query(query: Any, continuation_token: str | None) -> InstanceQuery:
    """HandleGetStatusRequestAsync's OrchestrationStatusQueryCondition."""
    params = query if isinstance(query, QueryParams) else QueryParams(query)
    return InstanceQuery(
        runtime_status=parse_statuses(params.get("runtimeStatus")),
        created_from=parse_time(params.get("createdTimeFrom")),
        created_to=parse_time(params.get("createdTimeTo")),
        instance_id_prefix=params.get("instanceIdPrefix") or None,
        top=page_size(params.get("top")),
        continuation_token=continuation_token or None,
        show_input=parse_bool(params.get("showInput"), True),
    )


def _validate_instance_id(instance_id: str) -> None:
    """DurableClient.StartNewAsync's checks (an ArgumentException each: 400). Two of them pass
    their text as the parameter name, so .NET's message reads as below."""
    reason = None
    if instance_id.startswith("@"):
        reason = "instanceId (Parameter 'Orchestration instance ids must not start with @.')"
    elif any(c in "/\\?#" or ord(c) < 32 or 127 <= ord(c) < 160 for c in instance_id):
        reason = "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, or control characters.')"
    elif len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        reason = f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."
    if reason is not None:
        raise InvalidApiRequest(ARGUMENTS_INCORRECT, exception_message=reason,
                                exception_type=ARGUMENT_EXCEPTION)


def _check_status_payload(urls: dict[str, str]) -> dict[str, str]:
    """CreateCheckStatusResponseMessage's body: the management URLs without rewindPostUri."""
    return {k: v for k, v in urls.items() if k != "rewindPostUri"}


class DurableApi:
    """Handles one request of either encoding; `rpc` selects the SDK's wire format."""

    def __init__(self, engine: DurableEngine, task_hub: str, system_key: str) -> None:
        self._engine = engine
        self._task_hub = task_hub
        self._system_key = system_key

    # --- body decoding ----------------------------------------------------------------------

    async def _json_text(self, request: web.Request, rpc: bool) -> str | None:
        """The request's payload as JSON text, or None for no payload; bad JSON is the
        extension's 400 "Invalid JSON content"."""
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidApiRequest(INVALID_JSON, exception_message=str(exc),
                                    exception_type=JSON_READER_EXCEPTION) from None
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

    def _urls(self, request: web.Request, instance_id: str) -> dict[str, str]:
        return management_urls(str(request.url.origin()), self._task_hub, self._system_key, instance_id)

    def _check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        payload = _check_status_payload(self._urls(request, instance_id))
        return _json_response(202, payload, {"Location": payload["statusQueryGetUri"],
                                             "Retry-After": CHECK_STATUS_RETRY_AFTER})

    # --- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: web.Request, subpath: str, *, rpc: bool) -> web.Response:
        params = QueryParams(request.query)
        try:
            self._check_task_hub(params)
            route = self._route(request, params, [p for p in subpath.strip("/").split("/")], rpc)
            if route is None:
                return empty_response(404)
            return await route()
        except InvalidApiRequest as exc:
            return _invalid_request_response(exc)
        except EngineError as exc:
            return engine_error_response(exc)

    def _check_task_hub(self, params: QueryParams) -> None:
        """The extension's GetClient serves `taskHub=` (any case) with a client of that task hub.
        The dev host keeps one task hub, so another one is refused rather than faked empty."""
        hub = params.get("taskHub")
        if hub and hub.strip() and hub.strip().lower() != self._task_hub.lower():
            raise InvalidApiRequest(
                f"The dev host serves the task hub '{self._task_hub}' only; taskHub={hub} names another.")

    def _route(self, request: web.Request, params: QueryParams, parts: list[str],
               rpc: bool) -> Callable[[], Awaitable[web.Response]] | None:
        """HandleRequestAsync's route table; literal segments match in any case."""
        method = request.method
        head = parts[0].lower()
        n = len(parts)
        if head == "orchestrators" and n in (2, 3) and method == "POST":
            return lambda: self._start(request, params, parts[1], parts[2] if n == 3 else None, rpc)
        if head == "entities" and 2 <= n <= 3:
            name, key = parts[1], parts[2] if n == 3 else None
            if method == "GET":
                if key:
                    return lambda: self._read_entity(name, "" if key == EMPTY_ENTITY_KEY else key)
                return lambda: self._list_entities(request, params, name)
            if method in ("POST", "DELETE"):
                return lambda: self._signal_entity(request, params, name, key, rpc)
            return None
        if head == "instances" and n == 4 and parts[2].lower() == "raiseevent" and method == "POST":
            return lambda: self._raise_event(request, parts[1], parts[3], rpc)
        if head != "instances" or n > 3:
            return None
        if n == 1 or (n == 2 and not parts[1]):
            if method == "GET":
                return lambda: self._query(request, params, rpc)
            if method == "DELETE":
                return lambda: self._purge_many(params)
            return None
        instance_id = parts[1]
        if n == 2:
            if method == "GET":
                return lambda: self._status(request, params, instance_id, rpc)
            if method == "DELETE":
                return lambda: self._purge(instance_id)
            return None
        if method == "POST":
            operation = parts[2].lower()
            if operation in ("terminate", "suspend", "resume"):
                return lambda: self._lifecycle(params, instance_id, operation)
            if operation == "restart":
                return lambda: self._restart(request, params, instance_id, rpc)
            if operation == "rewind":
                return lambda: self._rewind(params, instance_id)
        return None

    # --- orchestrations ---------------------------------------------------------------------

    async def _start(self, request: web.Request, params: QueryParams, name: str,
                     instance_id: str | None, rpc: bool) -> web.Response:
        """HandleStartOrchestratorRequestAsync: the body is read first, then StartNewAsync checks
        the function and the id; an id in a state the start may not replace is a 500."""
        input_json = await self._json_text(request, rpc)
        if instance_id:
            _validate_instance_id(instance_id)
        started = await self._engine.start_orchestration(name, input_json, instance_id)
        return await self._check_status_or_wait(request, params, started, rpc)

    async def _check_status_or_wait(self, request: web.Request, params: QueryParams,
                                    instance_id: str, rpc: bool) -> web.Response:
        # The extension waits only when both timeout and pollingInterval parse.
        timeout = parse_seconds(params.get("timeout"))
        interval = parse_seconds(params.get("pollingInterval"))
        if not rpc and timeout is not None and interval is not None:
            return await self._wait_for_completion(request, instance_id, timeout, interval)
        return self._check_status_response(request, instance_id)

    async def _wait_for_completion(self, request: web.Request, instance_id: str, timeout: float,
                                   interval: float) -> web.Response:
        """WaitForCompletionOrCreateCheckStatusResponseAsync: 200 with the output once
        completed, 200 with the status once failed, canceled or terminated, else the 202."""
        if interval > timeout:
            raise InvalidApiRequest(ARGUMENTS_INCORRECT, exception_type=ARGUMENT_EXCEPTION,
                                    exception_message=f"Total timeout {timeout:g} should be bigger than "
                                                      f"retry timeout {interval:g}")
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            status = await self._engine.get_status(instance_id, show_input=True)
            runtime = status.get("runtimeStatus") if status else None
            if runtime == RuntimeStatus.COMPLETED:
                return _json_response(200, status.get("output") if status else None)
            if runtime in TERMINAL:
                return _json_response(200, status)
            if loop.time() >= end:
                return self._check_status_response(request, instance_id)
            await asyncio.sleep(max(0.05, min(interval, end - loop.time())))

    async def _status(self, request: web.Request, params: QueryParams, instance_id: str,
                      rpc: bool) -> web.Response:
        show_input = parse_bool(params.get("showInput"), True)
        status = await self._engine.get_status(
            instance_id,
            show_input=show_input,
            show_history=parse_bool(params.get("showHistory"), False),
            show_history_output=parse_bool(params.get("showHistoryOutput"), False),
        )
        if status is None:
            return empty_response(404)
        if rpc and "historyEvents" in status:
            # The SDK's DurableOrchestrationStatus reads the history under `history`.
            status = {**status, "history": status["historyEvents"]}
        runtime = status.get("runtimeStatus")
        if runtime not in TERMINAL:
            return _json_response(202, status, {"Location": str(request.url), "Retry-After": STATUS_RETRY_AFTER})
        fail_with_500 = parse_bool(params.get("returnInternalServerErrorOnFailure"), False)
        return _json_response(500 if runtime == RuntimeStatus.FAILED and fail_with_500 else 200, status)

    async def _query(self, request: web.Request, params: QueryParams, rpc: bool) -> web.Response:
        query = instance_query(params, request.headers.get(CONTINUATION_HEADER))
        if rpc:
            # The SDK's get_status_all/by do not page: give them everything in one answer.
            query = replace(query, top=None)
        page, next_token = await self._engine.query_instances(query)
        headers = {CONTINUATION_HEADER: next_token} if next_token else None
        return _json_response(200, page, headers)

    async def _purge(self, instance_id: str) -> web.Response:
        deleted = await self._engine.purge(instance_id)
        if deleted == 0:
            return empty_response(404)
        return _json_response(200, {"instancesDeleted": deleted})

    async def _purge_many(self, params: QueryParams) -> web.Response:
        """HandleDeleteHistoryWithFiltersRequestAsync: createdTimeFrom is required (its 400 body
        is a JSON string), createdTimeTo defaults to now, runtimeStatus filters; nothing else."""
        created_from = parse_time(params.get("createdTimeFrom"))
        if created_from is None:
            return _json_response(400, "Please provide value for 'createdTimeFrom' parameter.")
        query = InstanceQuery(
            runtime_status=parse_statuses(params.get("runtimeStatus")),
            created_from=created_from,
            created_to=parse_time(params.get("createdTimeTo")) or datetime.now(timezone.utc),
        )
        deleted = await self._engine.purge_many(query)
        if deleted == 0:
            return empty_response(404)
        return _json_response(200, {"instancesDeleted": deleted})

    async def _raise_event(self, request: web.Request, instance_id: str, event_name: str,
                           rpc: bool) -> web.Response:
        """HandleRaiseEventRequestAsync: 404, then 410 for a finished instance, then only
        application/json, then the JSON itself."""
        status = await self._engine.get_status(instance_id, show_input=False)
        if status is None:
            return empty_response(404)
        if status["runtimeStatus"] in TERMINAL:
            return empty_response(410)
        if request.content_type.lower() != "application/json":
            return error_response(400, "Only application/json request content is supported")
        data_json = await self._json_text(request, rpc)
        await self._engine.raise_event(instance_id, event_name, data_json)
        return empty_response(202)

    async def _lifecycle(self, params: QueryParams, instance_id: str, operation: str) -> web.Response:
        """Terminate, suspend, resume: 404 unknown, 410 finished, else 202."""
        reason = params.get("reason") or None
        action = {"terminate": self._engine.terminate, "suspend": self._engine.suspend,
                  "resume": self._engine.resume}[operation]
        await action(instance_id, reason)
        return empty_response(202)

    async def _restart(self, request: web.Request, params: QueryParams, instance_id: str,
                       rpc: bool) -> web.Response:
        """HandleRestartInstanceRequestAsync: DurableClient.RestartAsync starts the instance's
        orchestrator again with its input, under a new id unless restartWithNewInstanceId=false
        (then as any start with an existing id)."""
        new_id_wanted = parse_bool(params.get("restartWithNewInstanceId"), True)
        status = await self._engine.get_status(instance_id, show_input=True)
        if status is None:
            return error_response(400, "InstanceId does not match a valid orchestration instance.",
                                  exception_type=ARGUMENT_EXCEPTION,
                                  exception_message=f"An orchestrastion with the instanceId {instance_id} was not found.")
        target = uuid.uuid4().hex if new_id_wanted else instance_id
        input_json = json.dumps(status.get("input")) if status.get("input") is not None else None
        started = await self._engine.start_orchestration(status["name"], input_json, target)
        if rpc:
            return _json_response(202, started)
        return await self._check_status_or_wait(request, params, started, rpc)

    async def _rewind(self, params: QueryParams, instance_id: str) -> web.Response:
        """HandleRewindInstanceRequestAsync: 404 unknown, 410 completed/terminated/canceled; a
        running one fails in RewindAsync (500); a failed one is rewound (202)."""
        status = await self._engine.get_status(instance_id, show_input=False)
        if status is None:
            return empty_response(404)
        runtime = status["runtimeStatus"]
        if runtime in TERMINAL and runtime != RuntimeStatus.FAILED:
            return empty_response(410)
        if runtime != RuntimeStatus.FAILED:
            return error_response(500, SOMETHING_WENT_WRONG, exception_type=INVALID_OPERATION_EXCEPTION,
                                  exception_message="The rewind operation is only supported on failed orchestration instances.")
        await self._engine.rewind(instance_id, params.get("reason") or None)
        return empty_response(202)

    # --- entities ---------------------------------------------------------------------------

    async def _signal_entity(self, request: web.Request, params: QueryParams, name: str,
                             key: str | None, rpc: bool) -> web.Response:
        """HandlePostEntityOperationRequestAsync: DELETE is the operation "delete"; a JSON body
        is the input, any other body is passed as a string."""
        if not key:
            return error_response(400, "Value cannot be null. (Parameter 'entityKey')")
        operation = "delete" if request.method == "DELETE" else (params.get("op") or "")
        raw = await request.read()
        input_json: str | None = None
        if raw:
            if rpc or request.content_type.lower() == "application/json":
                try:
                    input_json = await self._json_text(request, rpc)
                except InvalidApiRequest as exc:
                    return error_response(400, f"Could not parse JSON content: {exc.exception_message}")
            else:
                input_json = json.dumps(raw.decode("utf-8", errors="replace"))
        await self._engine.signal_entity(name, key, operation, input_json)
        return empty_response(202)

    async def _read_entity(self, name: str, key: str) -> web.Response:
        exists, state_json = await self._engine.read_entity(name, key)
        if not exists:
            return empty_response(404)
        return web.Response(
            status=200, text=state_json if state_json is not None else "null", content_type="application/json"
        )

    async def _list_entities(self, request: web.Request, params: QueryParams, name: str) -> web.Response:
        """HandleListEntitiesRequestAsync: lastOperationTimeFrom/To, top, fetchState, paging."""
        fetch_state = parse_bool(params.get("fetchState"), False)
        query = InstanceQuery(
            instance_id_prefix=f"@{name.lower()}@",
            top=page_size(params.get("top")),
            continuation_token=request.headers.get(CONTINUATION_HEADER) or None,
            show_input=False,
            updated_from=parse_time(params.get("lastOperationTimeFrom")),
            updated_to=parse_time(params.get("lastOperationTimeTo")),
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
