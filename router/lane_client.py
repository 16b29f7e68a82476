"""The router's calls to lane apps: their built-in Durable HTTP API.

One narrow seam for every call the router makes to a lane's function app: start an
orchestration, manage an instance, count and list instances. Plain dataclasses cross it
(`router.lane_types`); httpx and the lane's HTTP statuses stay on this side and come out as
`RouterError`s (`router.lane_errors`). Retries are the transport's business
(`router.lane_transport`); a call only says whether it may be repeated.

The lane's system key travels only in the `x-functions-key` header, never in a URL, so no URL,
log line or exception message built here can carry it; every lane answer that reaches a caller
goes through `LaneUrlRewriter`, so neither the key nor the lane's host reaches a client.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from urllib.parse import quote, urlencode
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from router.errors import BadRequest, InstanceExists, LaneUnreachable, RouterError
from router.instance_actions import InstanceAction, action_path
from router.lane_errors import EDGE_FAILURES, lane_error, transport_error
from router.lane_transport import (
    NOT_SENT, AiohttpSender, HttpxSender, LaneAnswer, LaneRequest, RetryingSender, RetryPolicy, Sleep, Timeouts,
    checked_base_url,
)
from router.lane_types import InFlight, LaneClientOptions, LaneEndpoint, ProxiedResponse, StartedInstance
from router.runtime_status import IN_FLIGHT, RuntimeStatus
from router.url_segments import path_segment
from router.urls import DURABLE_API_PATH, LaneUrlRewriter, RouterRoutes, filter_headers, filter_query, lane_rewriter

__all__ = [
    "InFlight",
    "InstanceAction",
    "InstanceExists",
    "LaneClient",
    "LaneClientOptions",
    "LaneEndpoint",
    "ProxiedResponse",
    "StartedInstance",
]

# What the drain monitor asks the lane for, in the enum's order so the query reads the same
# every time. Entities ("@name@key") always show as Running and are not counted.
_IN_FLIGHT_QUERY = tuple(status for status in RuntimeStatus if status in IN_FLIGHT)
_CONTINUATION_HEADER = "x-ms-continuation-token"
_MAX_KNOWN_ENTITIES = 10_000  # per lane
_KEY_HEADER = "x-functions-key"
# Sent with every call; the encodings are the ones both senders decode.
_DEFAULT_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "User-Agent": "durable-app-router"}


@dataclass
class _Tally:
    """In-flight instances counted so far, by status, and the oldest one's creation time."""

    counts: Counter[RuntimeStatus] = field(default_factory=Counter)
    oldest: datetime | None = None
    entity_like: list[dict[str, Any]] = field(default_factory=list)  # not looked up yet

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, status: RuntimeStatus, created: datetime | None) -> None:
        self.counts[status] += 1
        if created is not None and (self.oldest is None or created < self.oldest):
            self.oldest = created

    def in_flight(self, *, complete: bool) -> InFlight:
        counts = self.counts
        # ContinuedAsNew is a running instance between two generations.
        running = counts[RuntimeStatus.RUNNING] + counts[RuntimeStatus.CONTINUED_AS_NEW]
        return InFlight(running, counts[RuntimeStatus.PENDING], counts[RuntimeStatus.SUSPENDED], self.oldest,
                        complete=complete)


@dataclass(frozen=True)
class StartedSince:
    """Orchestrations a lane created since a moment, and how many of them failed."""

    started: int
    failed: int


class LaneClient:
    """Calls lanes' Durable HTTP APIs: httpx requests and answers, over one pooled aiohttp transport.

    `transport` replaces the one that does the I/O (tests pass an `httpx.MockTransport`); the
    retry policy is layered over it either way. `sleep` waits between attempts.
    """

    def __init__(
        self,
        options: LaneClientOptions | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._options = options or LaneClientOptions()
        self._transport = transport
        self._sleep = sleep
        self._sender: RetryingSender | None = None
        self._policy = RetryPolicy(
            self._options.attempts, self._options.backoff_seconds, self._options.backoff_max_seconds
        )
        self._timeouts = Timeouts(
            connect=self._options.connect_timeout, read=self._options.read_timeout, pool=self._options.connect_timeout
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._known_entities: dict[str, set[str]] = {}  # lane base URL -> ids found to be entities

    def _pool(self) -> RetryingSender:
        """The shared pooled sender, for the running event loop.

        Pooled connections belong to the loop that opened them. Async functions of a Functions
        worker share one loop; should a caller come from another loop (a sync function running
        `asyncio.run`), it gets a pool of its own rather than connections it cannot use.
        """
        loop = asyncio.get_running_loop()
        if self._sender is None or self._loop is not loop:
            options = self._options
            # aiohttp does the I/O: httpcore's pool costs more CPU per request the more
            # connections it holds, and httpx's request and response objects cost more than the
            # call itself (docs/performance.md). A test's httpx transport runs through HttpxSender.
            sender = HttpxSender(self._transport) if self._transport else AiohttpSender(
                max_connections=options.max_connections)
            self._sender = RetryingSender(sender, self._policy, sleep=self._sleep)
            self._loop = loop
        return self._sender

    async def aclose(self) -> None:
        if self._sender is not None and self._loop is asyncio.get_running_loop():
            await self._sender.aclose()
        self._sender = None
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
        trace_headers: Mapping[str, str] | None = None,
    ) -> StartedInstance:
        """Start orchestration `name` on the lane; `body` is its input JSON. `trace_headers`
        (traceparent, tracestate) ride along so the lane's work joins the caller's trace.

        Without an instance id the lane picks one, and the start is retried only when the
        request never left: a repeat would schedule a second instance.

        With an id, no start is ever sent blindly. A lane does not refuse an id that exists: under
        `overridableExistingInstanceStates` = `NonRunningStates` (the default) it replaces a
        finished instance with a new run and answers 500 for one in flight, under `AnyState` it
        replaces any. So the instance is read first, and one that exists raises `InstanceExists`
        without a start; after an attempt that may have reached the lane it is read again before
        the next one, and if it exists now, that attempt created it.
        """
        path = f"orchestrators/{path_segment(name)}" + (f"/{path_segment(instance_id)}" if instance_id else "")
        headers = {**trace_headers} if trace_headers else {}
        if content_type:
            headers["Content-Type"] = content_type
        subject = f"orchestrator {name!r}"
        if instance_id is None:
            response = await self._send(lane_app, "POST", path, subject, content=body, headers=headers, idempotent=False)
            return _started(response, None, subject, lane_app)
        existing = await self._instance_status(lane_app, instance_id)
        if existing is not None:
            raise _exists(instance_id, existing)
        policy = self._policy
        for attempt in range(1, max(1, policy.attempts) + 1):
            try:
                # Not repeatable for the transport: only what never left is retried there.
                response = await self._send(
                    lane_app, "POST", path, subject, content=body, headers=headers, idempotent=False
                )
            except RouterError as error:
                if attempt >= policy.attempts or not _maybe_delivered(error):
                    raise
                await self._sleep(policy.delay(attempt, None))
                if await self._instance_status(lane_app, instance_id) is not None:
                    return StartedInstance(instance_id, 202)  # the attempt that lost its answer
                continue
            if _already_exists(response):
                if attempt > 1:
                    # Absent when read before this attempt: the earlier attempt landed late.
                    return StartedInstance(instance_id, 202)
                raise _exists(instance_id, None)  # a start of someone else's raced ours
            return _started(response, instance_id, subject, lane_app)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _instance_status(self, lane_app: LaneEndpoint, instance_id: str) -> dict[str, Any] | None:
        """The lane's status object of `instance_id` (without input), or None if it has none."""
        subject = f"instance {instance_id!r}"
        response = await self._send(
            lane_app, "GET", f"instances/{path_segment(instance_id)}", subject,
            params={"showInput": "false"}, idempotent=True,
        )
        if response.status_code == 404:
            return None
        # In flight answers 202, finished 200; a failed one may answer 500 with its status.
        if _is_status_object(response):
            return dict(response.json())
        raise lane_error(response, subject, _rewriter(lane_app))

    async def proxy(
        self,
        lane_app: LaneEndpoint,
        method: str,
        instance_id: str,
        action: InstanceAction | str,
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
        try:
            action = InstanceAction(action)
        except ValueError:
            raise BadRequest(f"unknown instance action {action!r}", accepted=sorted(a.value for a in InstanceAction)) from None
        if method.upper() != action.method:
            raise BadRequest(f"{action} is reached with {action.method}, not {method.upper()}")
        if action.takes_event_name and not event_name:
            raise BadRequest(f"{action} needs an event name")
        subject = f"instance {instance_id!r}"
        response = await self._send(
            lane_app,
            action.method,
            f"instances/{path_segment(instance_id)}{action_path(action, event_name)}",
            subject,
            params=filter_query(query or {}),
            content=body if action.method != "GET" else None,
            headers=filter_headers(headers or {}),
            idempotent=action.repeatable,
            routes=routes,
        )
        rewriter = _rewriter(lane_app, routes)
        if response.is_success or (action is InstanceAction.STATUS and _is_status_object(response)):
            return _proxied(response, rewriter)
        if action is InstanceAction.TERMINATE and response.status_code == 410 and response.delivery.maybe_delivered:
            # An earlier attempt landed and terminated it: what the caller asked for.
            return ProxiedResponse(202, {}, b"")
        raise lane_error(response, subject, rewriter)

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
        page, next_token = await self._instances_page(
            lane_app, runtime_status, top, continuation_token, show_input, routes
        )
        return _rewriter(lane_app, routes).scrub_json(page), next_token

    async def in_flight_page(
        self, lane_app: LaneEndpoint, top: int, continuation_token: str | None = None
    ) -> tuple[list[str], str | None]:
        """Ids of one page of the lane's Running, Pending and Suspended orchestrations (entities
        left out, found as the drain count finds them) and the next page's token (None: last)."""
        page, token = await self._instances_page(lane_app, _IN_FLIGHT_QUERY, top, continuation_token, False, None)
        ids: list[str] = []
        for instance in page:
            if RuntimeStatus.parse(instance.get("runtimeStatus")) not in IN_FLIGHT:
                continue
            instance_id = str(instance.get("instanceId", ""))
            if instance_id.startswith("@") and await self._skips_entity(lane_app, instance_id):
                continue
            ids.append(instance_id)
        return ids, token

    async def in_flight_histories(self, lane_app: LaneEndpoint) -> list[dict[str, Any]]:
        """Every in-flight orchestration's `history` document, across every page, one at a time."""
        documents: list[dict[str, Any]] = []
        token: str | None = None
        seen_tokens: set[str] = set()
        for _ in range(self._options.max_pages):
            ids, token = await self.in_flight_page(lane_app, self._options.page_size, token)
            for instance_id in ids:
                document = await self.history(lane_app, instance_id)
                if document is not None:
                    documents.append(document)
            if token is None:
                return documents
            if token in seen_tokens:
                raise LaneUnreachable("the lane's instance query repeats a continuation token")
            seen_tokens.add(token)
        raise LaneUnreachable(f"the lane's instance query did not end after {self._options.max_pages} pages")

    async def history(
        self, lane_app: LaneEndpoint, instance_id: str, *, routes: RouterRoutes | None = None
    ) -> dict[str, Any] | None:
        """The instance's status document with its history, the history's outputs and its input,
        as the lane's Durable HTTP API answers it, scrubbed of the lane's host and key; None
        when the lane no longer has it (purged since it was listed)."""
        subject = f"instance {instance_id!r}"
        response = await self._send(
            lane_app, "GET", f"instances/{path_segment(instance_id)}", subject,
            params={"showHistory": "true", "showHistoryOutput": "true", "showInput": "true"},
            idempotent=True, routes=routes,
        )
        if response.status_code == 404:
            return None
        rewriter = _rewriter(lane_app, routes)
        # In flight answers 202, finished 200; a failed one may answer 500 with its status.
        if not _is_status_object(response):
            raise lane_error(response, subject, rewriter)
        return dict(rewriter.scrub_json(response.json()))

    async def count_in_flight(self, lane_app: LaneEndpoint) -> InFlight:
        """Running, pending and suspended orchestrations on the lane, across every page."""
        tally = _Tally()
        # Unscrubbed: only counts and times leave this method, never the instances.
        async for page in self._all_pages(lane_app, _IN_FLIGHT_QUERY):
            await self._add_page(lane_app, tally, page, check_entity_ids=True)
        return tally.in_flight(complete=True)

    async def drain_count(self, lane_app: LaneEndpoint) -> InFlight:
        """What a drain poll needs, whether anything is in flight, in one lane call however many are.

        One page of `page_size`; when the lane has more (a continuation token comes back) the
        figures are lower bounds (`complete` False). Entity-like ids ("@name@key") cost a call
        each to tell an entity from an orchestration, so they are looked up only when nothing
        else on the page is in flight, and an id found to be an entity is remembered for the
        lane: a drained lane that keeps entities costs one call per poll after the first. Only
        a first page of nothing but entities with more pages behind it is counted in full.
        """
        page, token = await self._instances_page(
            lane_app, _IN_FLIGHT_QUERY, self._options.page_size, None, False, None
        )
        tally = _Tally()
        await self._add_page(lane_app, tally, page, check_entity_ids=False)
        # Entity-like ids left out (something else is in flight): the figures are lower bounds.
        uncounted = bool(tally.entity_like) and tally.total > 0
        if tally.entity_like and not uncounted:
            await self._add_page(lane_app, tally, tally.entity_like, check_entity_ids=True)
        if tally.total == 0 and token is not None:
            return await self.count_in_flight(lane_app)
        return tally.in_flight(complete=token is None and not uncounted)

    async def count_started_since(self, lane_app: LaneEndpoint, created_from: str) -> StartedSince:
        """Orchestrations created on the lane from `created_from` on, whatever their status, and
        how many of them Failed: what a ramp's step check compares with its limit. Entities are
        left out (they show as Running forever and are no one's start)."""
        started = failed = 0
        # Unscrubbed: only counts leave this method, never the instances.
        async for page in self._all_pages(lane_app, None, created_from=created_from):
            for instance in page:
                instance_id = str(instance.get("instanceId", ""))
                if instance_id.startswith("@") and await self._skips_entity(lane_app, instance_id):
                    continue
                started += 1
                failed += int(RuntimeStatus.parse(instance.get("runtimeStatus")) is RuntimeStatus.FAILED)
        return StartedSince(started, failed)

    async def _all_pages(
        self, lane_app: LaneEndpoint, runtime_status: Sequence[str] | None, *, created_from: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of the lane's instances as the lane wrote it (unscrubbed), following the
        continuation token; raises when the token repeats or the pages do not end."""
        token: str | None = None
        seen_tokens: set[str] = set()
        for _ in range(self._options.max_pages):
            page, token = await self._instances_page(
                lane_app, runtime_status, self._options.page_size, token, False, None, created_from=created_from
            )
            yield page
            if token is None:
                return
            if token in seen_tokens:
                raise LaneUnreachable("the lane's instance query repeats a continuation token")
            seen_tokens.add(token)
        raise LaneUnreachable(f"the lane's instance query did not end after {self._options.max_pages} pages")

    async def _add_page(
        self, lane_app: LaneEndpoint, tally: _Tally, page: list[dict[str, Any]], *, check_entity_ids: bool
    ) -> None:
        known = self._known_entities.get(lane_app.base_url, set())
        for instance in page:
            status = RuntimeStatus.parse(instance.get("runtimeStatus"))
            if status not in IN_FLIGHT:
                continue
            instance_id = str(instance.get("instanceId", ""))
            if instance_id.startswith("@"):
                if instance_id in known:
                    continue
                if not check_entity_ids:
                    tally.entity_like.append(instance)
                    continue
                if await self._skips_entity(lane_app, instance_id):
                    continue  # entities show as Running forever; they hold no lane alive
            tally.add(status, _parse_time(instance.get("createdTime")))

    async def _skips_entity(self, lane_app: LaneEndpoint, instance_id: str) -> bool:
        """Whether an "@name@key" id is an entity's, from what the lane answered before or by
        asking it (once per id, remembered)."""
        if instance_id in self._known_entities.get(lane_app.base_url, ()):
            return True
        if await self._is_entity(lane_app, instance_id):
            self._remember_entity(lane_app.base_url, instance_id)
            return True
        return False

    def _remember_entity(self, base_url: str, instance_id: str) -> None:
        # An entity's id stays an entity's (the router refuses "@" ids for orchestrations);
        # bounded so a lane with very many entities cannot grow the router's memory.
        known = self._known_entities.setdefault(base_url, set())
        if len(known) < _MAX_KNOWN_ENTITIES:
            known.add(instance_id)

    async def _is_entity(self, lane_app: LaneEndpoint, instance_id: str) -> bool:
        """Whether `@name@key` is a real entity on the lane. An orchestration that took such an
        id (the router refuses them, but a lane may hold one) is not: it is counted."""
        name, at, key = instance_id[1:].partition("@")
        if not name or not at:
            return False
        response = await self._send(lane_app, "GET", f"entities/{path_segment(name)}/{path_segment(key)}",
                                    f"entity {instance_id!r}", idempotent=True)
        if response.status_code == 404:
            return False
        if not response.is_success:
            raise lane_error(response, f"entity {instance_id!r}", _rewriter(lane_app, None))
        return True

    async def _instances_page(
        self,
        lane_app: LaneEndpoint,
        runtime_status: Sequence[str] | None,
        top: int | None,
        continuation_token: str | None,
        show_input: bool,
        routes: RouterRoutes | None,
        *,
        created_from: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the lane's instances as the lane wrote it, and the next page's token."""
        params: dict[str, str] = {"showInput": "true" if show_input else "false"}
        if runtime_status:
            params["runtimeStatus"] = ",".join(runtime_status)
        if created_from is not None:
            params["createdTimeFrom"] = created_from
        if top is not None:
            params["top"] = str(top)
        headers = {_CONTINUATION_HEADER: continuation_token} if continuation_token else {}
        subject = "instance query"
        response = await self._send(
            lane_app, "GET", "instances", subject, params=params, headers=headers, idempotent=True, routes=routes
        )
        if not response.is_success:
            raise lane_error(response, subject, _rewriter(lane_app, routes))
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
        subject: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        routes: RouterRoutes | None = None,
    ) -> LaneAnswer:
        """The lane's answer to one call about `subject`, after the transport's retries.

        Raises when no attempt got an answer, and for answers no call can use (a refused key,
        throttling or a failed gateway after the last attempt).
        """
        try:
            base_url = checked_base_url(lane_app.base_url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(exc) from exc
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""
        request = LaneRequest(
            method, f"{base_url}{DURABLE_API_PATH}/{path}{query}",
            {**_DEFAULT_HEADERS, **(headers or {}), _KEY_HEADER: lane_app.system_key}, content, idempotent,
            self._timeouts,
        )
        try:
            # Redirects are never followed (a lane that redirects is misconfigured, and following
            # one would send the key header wherever it points), cookies never kept.
            response = await self._pool().send(request)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(exc, request.delivery) from exc
        if response.status_code in EDGE_FAILURES:
            raise lane_error(response, subject, _rewriter(lane_app, routes))
        return response


# The extension's answer to a start whose id is in flight under NonRunningStates: its
# HttpApiHandler turns DurableTask.Core's OrchestrationAlreadyExistsException into a 500.
_ALREADY_EXISTS_TYPE = "OrchestrationAlreadyExistsException"


def _started(response: LaneAnswer, instance_id: str | None, subject: str, lane_app: LaneEndpoint) -> StartedInstance:
    if not response.is_success:
        raise lane_error(response, subject, _rewriter(lane_app))
    started_id = _json_field(response, "id") or instance_id
    if not isinstance(started_id, str) or not started_id:
        raise LaneUnreachable("the lane accepted the start but did not say which instance it created")
    return StartedInstance(started_id, response.status_code)


def _exists(instance_id: str, status: Mapping[str, Any] | None) -> InstanceExists:
    runtime_status = RuntimeStatus.parse((status or {}).get("runtimeStatus"))
    state = f" ({runtime_status})" if runtime_status else ""
    details: dict[str, Any] = {"id": instance_id}
    if runtime_status:
        details["runtimeStatus"] = str(runtime_status)
    return InstanceExists(
        f"An instance with id {instance_id!r} already exists{state}; a start with an existing id "
        "does not run it again. Read it by its id, or start with a new one.",
        **details,
    )


def _already_exists(response: LaneAnswer) -> bool:
    """Whether the lane refused a start because its instance id is taken (and in flight)."""
    if response.status_code == 409:
        return True  # the dev host before it answered as the extension does
    return response.status_code == 500 and _ALREADY_EXISTS_TYPE in str(_json_field(response, "ExceptionType") or "")


def _maybe_delivered(error: RouterError) -> bool:
    """Whether the failed attempt behind `error` may have reached the lane and been acted on:
    sent but unanswered, or lost behind a gateway (502/503/504). Never for what did not leave,
    a refused key or throttling (429 means "not done")."""
    cause = error.__cause__
    if isinstance(cause, httpx.TransportError):
        return not isinstance(cause, (*NOT_SENT, httpx.UnsupportedProtocol))
    return error.details.get("laneStatus") in (502, 503, 504)


def _rewriter(lane_app: LaneEndpoint, routes: RouterRoutes | None = None) -> LaneUrlRewriter:
    return lane_rewriter(lane_app.base_url, lane_app.system_key, routes)


def _proxied(response: LaneAnswer, rewriter: LaneUrlRewriter) -> ProxiedResponse:
    scrubbed: dict[str, str] = {}
    # Names lower-cased, as ProxiedResponse promises (aiohttp keeps the lane's spelling).
    for name, value in filter_headers((k.lower(), v) for k, v in response.headers.items()).items():
        if name.lower() == "location":
            rewritten = rewriter.rewrite_url(value)
            if rewritten is not None:
                scrubbed[name] = rewritten
            continue
        scrubbed[name] = rewriter.scrub_text(value)
    return ProxiedResponse(response.status_code, scrubbed, _scrub_body(response, rewriter))


def _scrub_body(response: LaneAnswer, rewriter: LaneUrlRewriter) -> bytes:
    raw = response.content
    if not raw:
        return raw
    # Most answers (a status: ids, times, input and output) name neither the lane nor its key:
    # those pass as the lane sent them, unparsed. Not when the text has an escape: JSON may
    # spell the key or host with \u escapes that only parsing shows.
    text = raw.decode("utf-8", errors="surrogateescape")
    if "\\" not in text and not rewriter.mentions_lane(text):
        return raw
    try:
        document = json.loads(raw)
    except ValueError:
        # Not JSON: scrub it as text; surrogateescape keeps undecodable bytes as they were.
        return rewriter.scrub_text(text).encode("utf-8", errors="surrogateescape")
    return json.dumps(rewriter.scrub_json(document)).encode()


def _is_status_object(response: LaneAnswer) -> bool:
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, dict) and "runtimeStatus" in document


def _json_field(response: LaneAnswer, name: str) -> Any:
    try:
        document = response.json()
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
