"""Run one HTTP-triggered function: aiohttp request in, func.HttpRequest to the user's code,
its result back out as an aiohttp response (the Python worker's conversions)."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions import _abc as functions_abc
from multidict import CIMultiDict

from devhost.app_loader import HttpFunction


@dataclass(frozen=True)
class _TraceContext(functions_abc.TraceContext):
    """The request's W3C trace context. The host passes its own span for the invocation, a child
    of the request's traceparent (azure-functions-host `src/WebJobs.Script.Grpc/MessageExtensions/
    GrpcMessageConversionExtensions.cs` GetRpcTraceContext); the dev host records no span, so it
    passes the request's own. Both spellings: azure-functions' `_abc.TraceContext` and the Python
    worker's object (`Traceparent`, `Tracestate`, `Attributes` in azure-functions-python-worker
    `azure_functions_worker/bindings/tracecontext.py`), which the OpenTelemetry docs' samples read."""

    _trace_parent: str = ""
    _trace_state: str = ""

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return {}

    @property
    def Traceparent(self) -> str:  # noqa: N802 - the worker's spelling
        return self._trace_parent

    @property
    def Tracestate(self) -> str:  # noqa: N802
        return self._trace_state

    @property
    def Attributes(self) -> dict[str, str]:  # noqa: N802
        return {}


@dataclass(frozen=True)
class _RetryContext(functions_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


@dataclass(frozen=True)
class InvocationContext(func.Context):
    """The `context: func.Context` argument, for functions whose signature asks for it."""

    _invocation_id: str
    _function_name: str
    _function_directory: str
    _trace_context: _TraceContext = field(default_factory=_TraceContext)
    _thread_local_storage: threading.local = field(default_factory=threading.local)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> _TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> _RetryContext:
        return _RetryContext()

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._thread_local_storage


async def build_request(request: web.Request, route_params: dict[str, str]) -> func.HttpRequest:
    body = await request.read()
    # One pass over each: a repeated header or parameter is joined, not looked up once per copy.
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()  # func.HttpRequest lower-cases header names anyway
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    params: dict[str, str] = {}
    for name, value in request.query.items():
        params[name] = f"{params[name]},{value}" if name in params else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    """Convert a function's return value as the worker would, and sensibly where it would not."""
    if isinstance(result, func.HttpResponse):
        headers = CIMultiDict((k, v) for k, v in result.headers.items())
        if "content-type" not in headers:
            mimetype = result.mimetype or "text/plain"
            headers["Content-Type"] = (
                f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
            )
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="text/plain")
    if isinstance(result, (bytes, bytearray)):
        return web.Response(status=200, body=bytes(result), content_type="application/octet-stream")
    # dicts, lists, numbers: JSON, as the host serializes non-HTTP return values.
    return web.Response(status=200, text=json.dumps(result), content_type="application/json")


async def invoke(
    function: HttpFunction,
    request: web.Request,
    route_params: dict[str, str],
    *,
    invocation_id: str,
    app_dir: Path,
    executor: Executor,
    client_binding: str | None,
) -> Any:
    """Call the user's function and return its raw result. User exceptions propagate."""
    kwargs: dict[str, Any] = {function.request_param: await build_request(request, route_params)}
    if function.client_param is not None:
        # The SDK's durable-client middleware reads this keyword argument (a JSON string).
        kwargs[function.client_param] = client_binding
    if function.wants_context:
        kwargs["context"] = InvocationContext(
            invocation_id,
            function.name,
            str(app_dir),
            _TraceContext(request.headers.get("traceparent", ""), request.headers.get("tracestate", "")),
        )
    if function.is_async:
        return await function.func(**kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(function.func, **kwargs))
