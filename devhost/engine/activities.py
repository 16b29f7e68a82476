"""Running one activity (or the built-in HTTP activity) and turning the outcome into the
history event the orchestration receives."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import traceback
from concurrent.futures import Executor
from datetime import datetime, timezone
from typing import Any

import httpx
from azure.functions._durable_functions import df_dumps, df_loads

from devhost.engine import history as h
from devhost.engine.history import EventType
from devhost.engine.model import WorkItem
from devhost.engine.registry import ActivityFunction

MAX_POLL_DELAY_SECONDS = 10.0


def decode_input(text: str | None) -> Any:
    """What the Functions host's ActivityTriggerConverter gives the user function."""
    if text is None:
        return None
    try:
        return df_loads(text)
    except json.JSONDecodeError:
        return text


async def run_activity(function: ActivityFunction, item: WorkItem, executor: Executor) -> str:
    """Run the user function; sync ones in a worker thread. Returns df_dumps(result)."""
    kwargs = {function.input_param: decode_input(item.input)}
    if inspect.iscoroutinefunction(function.func):
        result = await function.func(**kwargs)
    else:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(executor, functools.partial(function.func, **kwargs))
        if inspect.isawaitable(result):
            result = await result
    return df_dumps(result)


async def run_http(request_text: str | None, client: httpx.AsyncClient) -> str:
    """The extension's BuiltIn::HttpActivity: one request, then 202 + Location polling."""
    request = json.loads(request_text or "{}")
    method = str(request.get("method") or "GET").upper()
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    content = request.get("content")
    response = await client.request(method, request["uri"], headers=headers,
                                    content=None if content is None else str(content))
    polling = request.get("asynchronousPatternEnabled", True)
    while polling and response.status_code == 202 and "location" in response.headers:
        await asyncio.sleep(_retry_after(response.headers.get("retry-after")))
        response = await client.get(response.headers["location"], headers=headers)
    return json.dumps({
        "statusCode": response.status_code,
        "headers": dict(response.headers),
        "content": response.text,
    })


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value), 0.0), MAX_POLL_DELAY_SECONDS) if value else 1.0
    except ValueError:
        return 1.0


def completed_event(item: WorkItem, result_text: str) -> dict[str, Any]:
    return h.event(EventType.TASK_COMPLETED, datetime.now(timezone.utc),
                   TaskScheduledId=item.task_id, Result=result_text)


def failed_event(item: WorkItem, exc: BaseException) -> dict[str, Any]:
    reason = f"Activity function '{item.name}' failed: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc)).strip()
    return h.event(EventType.TASK_FAILED, datetime.now(timezone.utc),
                   TaskScheduledId=item.task_id, Reason=reason, Details=details)


def missing_event(item: WorkItem) -> dict[str, Any]:
    reason = (f"The function '{item.name}' doesn't exist, is disabled, or is not an "
              "activity function.")
    return h.event(EventType.TASK_FAILED, datetime.now(timezone.utc),
                   TaskScheduledId=item.task_id, Reason=reason, Details=None)
