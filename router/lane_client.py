"""The router's HTTP edge towards lane apps: their built-in Durable HTTP API.

One narrow seam for every call the router makes to a lane's function app: start an
orchestration, manage an instance, count and list instances. Plain dataclasses cross it; httpx
and the lane's HTTP statuses stay on this side and come out as `RouterError`s.

The lane's system key travels only in the `x-functions-key` header, never in a URL, so no URL,
log line or exception message built here can carry it; every lane answer that reaches a caller
goes through `LaneUrlRewriter`, so neither the key nor the lane's host leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from router.errors import (
    BadRequest,
    Conflict,
    InstanceNotRunning,
    LaneKeyRejected,
    LaneTimeout,
    LaneUnreachable,
    NotFound,
    PayloadTooLarge,
    RouterError,
)
from router.urls import DURABLE_API_PATH, LaneUrlRewriter, RouterRoutes, filter_headers, filter_query

log = logging.getLogger(__name__)

InstanceAction = Literal["status", "raiseEvent", "terminate", "suspend", "resume", "purge"]

# The HTTP method each management action is reached with, on the router and on the lane.
ACTION_METHODS: dict[str, str] = {
    "status": "GET",
    "raiseEvent": "POST",
    "terminate": "POST",
    "suspend": "POST",
    "resume": "POST",
    "purge": "DELETE",
}

# What the drain monitor waits for. ContinuedAsNew is a running instance between two
# generations (the extension may show it briefly); it counts as running. Entities
# ("@name@key") always show as Running and are not counted.
IN_FLIGHT_STATUSES = ("Running", "Pending", "Suspended", "ContinuedAsNew")

# Statuses that say the lane (or its front end) did not do the work: worth another attempt.
_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Errors raised before the request left: retrying cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_CONTINUATION_HEADER = "x-ms-continuation-token"
_KEY_HEADER = "x-functions-key"


@dataclass(frozen=True)
class LaneEndpoint:
    """Where a lane's app answers and the system key of its Durable HTTP API."""

    base_url: str
    system_key: str = field(repr=False)


@dataclass(frozen=True)
class StartedInstance:
    """An orchestration the lane accepted."""

    instance_id: str
    status: int  # the lane's HTTP status, 202 when freshly scheduled


@dataclass(frozen=True)
class ProxiedResponse:
    """A lane's answer to a management call, already rewritten into router terms."""

    status: int
    headers: dict[str, str]  # names lower-cased, as HTTP/1.1 libraries hand them over
    body: bytes


@dataclass(frozen=True)
class InFlight:
    """The instances that keep a lane's app alive."""

    running: int
    pending: int
    suspended: int
    oldest_created_time: datetime | None

    @property
    def total(self) -> int:
        return self.running + self.pending + self.suspended


@dataclass(frozen=True)
class LaneClientOptions:
    """Timeouts, pooling and retry policy of the lane edge."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 3  # tries per call, the first included
    backoff_seconds: float = 0.25  # doubled per retry, with jitter
    backoff_max_seconds: float = 4.0  # also caps a lane's Retry-After
    max_connections: int = 100
    page_size: int = 100  # `top` when counting in-flight instances
    max_pages: int = 10_000  # a lane that pages forever must not hang the drain monitor


class LaneClient:
    """Calls lanes' Durable HTTP APIs over one shared, pooled httpx client."""

    def __init__(self, options: LaneClientOptions | None = None) -> None:
        self._options = options or LaneClientOptions()
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _pool(self) -> httpx.AsyncClient:
        """The shared pooled client, for the running event loop.

        Pooled connections belong to the loop that opened them. Async functions of a Functions
        worker share one loop; should a caller come from another loop (a sync function running
        `asyncio.run`), it gets a pool of its own rather than connections it cannot use.
        """
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            timeout = httpx.Timeout(
                self._options.read_timeout,
                connect=self._options.connect_timeout,
                pool=self._options.connect_timeout,
            )
            limits = httpx.Limits(max_connections=self._options.max_connections)
            # Redirects are not followed: a lane that redirects is misconfigured, and following
            # one would send the key header wherever it points.
            self._http = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        if self._http is not None and self._loop is asyncio.get_running_loop():
            await self._http.aclose()
        self._http = None
        self._loop = None

    async def __aenter__(self) -> LaneClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start_orchestration(
        self,
        lane_app: LaneEndpoint,
        name: str,
        instance_id: str | None,
        body: bytes,
        content_type: str | None = "application/json",
    ) -> StartedInstance:
        """Start orchestration `name` on the lane; `body` is its input JSON.

        A start without an instance id is retried only when the request never left, since the
        lane would otherwise schedule a second instance. With an id it is retried like any
        idempotent call, and a 409 after an attempt that may have reached the lane means that
        attempt created the instance.
        """
        path = f"orchestrators/{_segment(name)}" + (f"/{_segment(instance_id)}" if instance_id else "")
        headers = {"Content-Type": content_type} if content_type else {}
        response, maybe_delivered = await self._send(
            lane_app, "POST", path, content=body, headers=headers, idempotent=instance_id is not None
        )
        if response.status_code == 409 and instance_id is not None and maybe_delivered:
            return StartedInstance(instance_id, 202)
        if not response.is_success:
            raise _lane_error(response, _rewriter(lane_app), f"orchestrator {name!r}")
        started_id = _json_field(response, "id") or instance_id
        if not isinstance(started_id, str) or not started_id:
            raise LaneUnreachable("the lane accepted the start but did not say which instance it created")
        return StartedInstance(started_id, response.status_code)

    async def proxy(
        self,
        lane_app: LaneEndpoint,
        method: str,
        instance_id: str,
        action: InstanceAction,
        event_name: str | None = None,
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        routes: RouterRoutes | None = None,
    ) -> ProxiedResponse:
        """Forward a management call for one instance to its lane.

        Status answers pass through, failed and terminated instances included (the lane's 400
        or 500 carrying a status object). Every other lane error becomes a `RouterError`. With
        `routes`, lane URLs in the answer become router URLs; without, they are removed.
        """
        expected = ACTION_METHODS.get(action)
        if expected is None:
            raise BadRequest(f"unknown instance action {action!r}", accepted=sorted(ACTION_METHODS))
        if method.upper() != expected:
            raise BadRequest(f"{action} is reached with {expected}, not {method.upper()}")
        if action == "raiseEvent" and not event_name:
            raise BadRequest("raiseEvent needs an event name")
        path = f"instances/{_segment(instance_id)}"
        if action == "raiseEvent":
            path += f"/raiseEvent/{_segment(event_name or '')}"
        elif action in ("terminate", "suspend", "resume"):
            path += f"/{action}"
        # Raising an event twice delivers it twice; the other actions can be repeated safely.
        response, maybe_delivered = await self._send(
            lane_app,
            expected,
            path,
            params=filter_query(query or {}),
            content=body if expected != "GET" else None,
            headers=filter_headers(headers or {}),
            idempotent=action != "raiseEvent",
        )
        rewriter = _rewriter(lane_app, routes)
        if response.is_success or (action == "status" and _is_status_object(response)):
            return _proxied(response, rewriter)
        if action == "terminate" and response.status_code == 410 and maybe_delivered:
            # An earlier attempt landed and terminated it: what the caller asked for.
            return ProxiedResponse(202, {}, b"")
        raise _lane_error(response, rewriter, f"instance {instance_id!r}")

    async def list_instances(
        self,
        lane_app: LaneEndpoint,
        runtime_status: Sequence[str] | None = None,
        top: int | None = None,
        continuation_token: str | None = None,
        *,
        show_input: bool = False,
        routes: RouterRoutes | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the lane's instances and the token of the next page (None: last)."""
        rewriter = _rewriter(lane_app, routes)
        page, next_token = await self._instances_page(
            lane_app, runtime_status, top, continuation_token, show_input, rewriter
        )
        return rewriter.scrub_json(page), next_token

    async def count_in_flight(self, lane_app: LaneEndpoint) -> InFlight:
        """Running, pending and suspended orchestrations on the lane, across every page."""
        counts = dict.fromkeys(IN_FLIGHT_STATUSES, 0)
        oldest: datetime | None = None
        token: str | None = None
        seen_tokens: set[str] = set()
        rewriter = _rewriter(lane_app)
        for _ in range(self._options.max_pages):
            # Unscrubbed: only counts and times leave this method, never the instances.
            page, token = await self._instances_page(
                lane_app, IN_FLIGHT_STATUSES, self._options.page_size, token, False, rewriter
            )
            for instance in page:
                instance_id = str(instance.get("instanceId", ""))
                status = instance.get("runtimeStatus")
                if instance_id.startswith("@") or status not in counts:
                    continue
                counts[status] += 1
                created = _parse_time(instance.get("createdTime"))
                if created is not None and (oldest is None or created < oldest):
                    oldest = created
            if token is None:
                break
            if token in seen_tokens:
                raise LaneUnreachable("the lane's instance query repeats a continuation token")
            seen_tokens.add(token)
        else:
            raise LaneUnreachable(f"the lane's instance query did not end after {self._options.max_pages} pages")
        running = counts["Running"] + counts["ContinuedAsNew"]
        return InFlight(running, counts["Pending"], counts["Suspended"], oldest)

    async def _instances_page(
        self,
        lane_app: LaneEndpoint,
        runtime_status: Sequence[str] | None,
        top: int | None,
        continuation_token: str | None,
        show_input: bool,
        rewriter: LaneUrlRewriter,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the lane's instances as the lane wrote it, and the next page's token."""
        params: dict[str, str] = {"showInput": "true" if show_input else "false"}
        if runtime_status:
            params["runtimeStatus"] = ",".join(runtime_status)
        if top is not None:
            params["top"] = str(top)
        headers = {_CONTINUATION_HEADER: continuation_token} if continuation_token else {}
        response, _ = await self._send(
            lane_app, "GET", "instances", params=params, headers=headers, idempotent=True
        )
        if not response.is_success:
            raise _lane_error(response, rewriter, "instance query")
        try:
            page = response.json()
        except ValueError:
            page = None
        if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
            raise LaneUnreachable("the lane answered the instance query with something other than a list")
        token = response.headers.get(_CONTINUATION_HEADER, "").strip()
        # The extension sends the header on every page; "null" or empty marks the last one.
        return page, None if token in ("", "null") else token

    async def _send(
        self,
        lane_app: LaneEndpoint,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
    ) -> tuple[httpx.Response, bool]:
        """Send with retries; the last response, and whether an earlier attempt may have landed.

        Raises LaneUnreachable/LaneTimeout when no attempt got an answer, or when the last answer
        is a gateway failure (429/502/503/504).
        """
        url = f"{lane_app.base_url.rstrip('/')}{DURABLE_API_PATH}/{path}"
        request_headers = {**(headers or {}), _KEY_HEADER: lane_app.system_key}
        maybe_delivered = False
        attempts = max(1, self._options.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._pool().request(
                    method, url, params=params, content=content, headers=request_headers
                )
            except (httpx.InvalidURL, httpx.UnsupportedProtocol):
                # A broken base URL: no attempt can ever leave, so none is retried.
                raise LaneUnreachable("the lane's address is not a usable http(s) URL") from None
            except _NOT_SENT as exc:
                if last:
                    raise _transport_error(exc, attempts) from None
                log.warning("lane %s: %s %s not sent (%s), retrying", _host(lane_app), method, path, type(exc).__name__)
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            except httpx.HTTPError as exc:
                # Sent but unanswered: the lane may have acted on it.
                retry = idempotent and isinstance(exc, httpx.TransportError) and not last
                if not retry:
                    raise _transport_error(exc, attempt) from None
                maybe_delivered = True
                log.warning("lane %s: %s %s unanswered (%s), retrying", _host(lane_app), method, path, type(exc).__name__)
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            status = response.status_code
            if status in (401, 403):
                raise LaneKeyRejected(
                    "the lane refused the router's system key", laneStatus=status
                )
            if status not in _RETRYABLE_STATUSES:
                return response, maybe_delivered
            # 429 means "not done"; a gateway 5xx may hide work done behind it.
            retry = (idempotent or status == 429) and not last
            if not retry:
                raise _gateway_error(response, _rewriter(lane_app), attempt)
            maybe_delivered = maybe_delivered or status != 429
            log.warning("lane %s: %s %s answered %d, retrying", _host(lane_app), method, path, status)
            await asyncio.sleep(self._backoff(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        cap = self._options.backoff_max_seconds
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), cap)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        delay = self._options.backoff_seconds * 2 ** (attempt - 1)
        return min(delay * random.uniform(0.5, 1.0), cap)


def _host(lane_app: LaneEndpoint) -> str:
    """The lane's host[:port] for log lines (parsed only when a line is written)."""
    return urlsplit(lane_app.base_url).netloc


def _rewriter(lane_app: LaneEndpoint, routes: RouterRoutes | None = None) -> LaneUrlRewriter:
    return LaneUrlRewriter(lane_app.base_url, lane_app.system_key, routes)


def _proxied(response: httpx.Response, rewriter: LaneUrlRewriter) -> ProxiedResponse:
    scrubbed: dict[str, str] = {}
    for name, value in filter_headers(response.headers.multi_items()).items():
        if name.lower() == "content-encoding":
            continue  # httpx already decoded the body, so its encoding no longer applies
        if name.lower() == "location":
            rewritten = rewriter.rewrite_url(value)
            if rewritten is not None:
                scrubbed[name] = rewritten
            continue
        scrubbed[name] = rewriter.scrub_text(value)
    return ProxiedResponse(response.status_code, scrubbed, _scrub_body(response, rewriter))


def _scrub_body(response: httpx.Response, rewriter: LaneUrlRewriter) -> bytes:
    raw = response.content
    if not raw:
        return raw
    try:
        document = json.loads(raw)
    except ValueError:
        # Not JSON: scrub it as text; surrogateescape keeps undecodable bytes as they were.
        text = raw.decode("utf-8", errors="surrogateescape")
        return rewriter.scrub_text(text).encode("utf-8", errors="surrogateescape")
    return json.dumps(rewriter.scrub_json(document)).encode()


def _is_status_object(response: httpx.Response) -> bool:
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, dict) and "runtimeStatus" in document


def _json_field(response: httpx.Response, name: str) -> Any:
    try:
        document = response.json()
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None


def _lane_message(response: httpx.Response, rewriter: LaneUrlRewriter) -> str:
    """The human part of a lane's error answer, without URLs, host or key."""
    text = ""
    try:
        document = response.json()
    except ValueError:
        text = response.text
    else:
        if isinstance(document, dict):
            for key in ("message", "Message", "ExceptionMessage", "error"):
                if isinstance(document.get(key), str):
                    text = document[key]
                    break
        elif isinstance(document, str):
            text = document
    text = " ".join(rewriter.scrub_text(text).split())
    return text[:500] or f"HTTP {response.status_code}"


def _lane_error(response: httpx.Response, rewriter: LaneUrlRewriter, subject: str) -> RouterError:
    """The router error for a lane's non-success answer about `subject`."""
    status = response.status_code
    message = _lane_message(response, rewriter)
    if status == 404:
        return NotFound(f"{subject} not found on the lane: {message}", laneStatus=status)
    if status == 409:
        return Conflict(f"{subject} conflicts with the lane's state: {message}", laneStatus=status)
    if status == 410:
        return InstanceNotRunning(f"{subject} is no longer running: {message}", laneStatus=status)
    if status == 413:
        return PayloadTooLarge(f"the lane refused the body as too large: {message}", laneStatus=status)
    if 400 <= status < 500:
        return BadRequest(f"the lane rejected the request for {subject}: {message}", laneStatus=status)
    if status in _RETRYABLE_STATUSES:
        return _gateway_error(response, rewriter, 1)
    return LaneUnreachable(f"the lane failed on {subject}: {message}", laneStatus=status)


def _gateway_error(response: httpx.Response, rewriter: LaneUrlRewriter, attempts: int) -> RouterError:
    status = response.status_code
    message = _lane_message(response, rewriter)
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if status == 504:
        return LaneTimeout(f"the lane's gateway timed out {tries}: {message}", laneStatus=status)
    if status == 429:
        return LaneUnreachable(f"the lane is throttling requests {tries}: {message}", laneStatus=status)
    return LaneUnreachable(f"the lane is unavailable {tries}: {message}", laneStatus=status)


def _transport_error(exc: httpx.HTTPError, attempts: int) -> RouterError:
    # Only the class name: httpx messages may quote the URL, and the lane's host stays here.
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, httpx.TimeoutException):
        return LaneTimeout(f"the lane did not answer in time {tries} ({type(exc).__name__})")
    return LaneUnreachable(f"the lane could not be reached {tries} ({type(exc).__name__})")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _segment(value: str) -> str:
    return quote(value, safe="")
