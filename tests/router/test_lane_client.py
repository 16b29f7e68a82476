"""LaneClient against a real local HTTP server that imitates a lane's Durable HTTP API."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from urllib.parse import unquote

import anyio
import pytest
from aiohttp import web

from router.errors import (
    BadRequest,
    Conflict,
    InstanceNotRunning,
    LaneKeyRejected,
    LaneTimeout,
    LaneUnreachable,
    NotFound,
)
from router.lane_client import LaneClient, LaneClientOptions, LaneEndpoint, ProxiedResponse
from router.urls import RouterRoutes

pytestmark = pytest.mark.anyio

API = "/runtime/webhooks/durabletask"
ROUTES = RouterRoutes("https://router.example.com", "api", "1.0")
ROUTER_STATUS = "https://router.example.com/api/instances/1.0"
ACTIVE = ("Running", "Pending", "Suspended")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Fault:
    """One injected misbehaviour for requests whose method and path match."""

    method: str
    path_prefix: str
    status: int | None = None  # answer this instead of doing the work
    delay: float = 0.0
    times: int = 1
    act_first: bool = False  # do the work, then delay the answer
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class FakeLane:
    """A lane app's Durable HTTP API, as documented for Azure, over real sockets."""

    def __init__(self) -> None:
        self.key = f"key-{uuid.uuid4().hex}"
        self.orchestrators = {"hello"}
        self.instances: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, Any]] = []
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.base_url = ""
        self._clock = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", API + "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def endpoint(self, key: str | None = None) -> LaneEndpoint:
        return LaneEndpoint(self.base_url, self.key if key is None else key)

    def add(self, instance_id: str, status: str, *, name: str = "hello", output: Any = None, age: int = 0) -> None:
        created = (self._clock - timedelta(minutes=age)).isoformat().replace("+00:00", "Z")
        self.instances[instance_id] = {
            "name": name,
            "instanceId": instance_id,
            "runtimeStatus": status,
            "input": None,
            "customStatus": None,
            "output": output,
            "createdTime": created,
            "lastUpdatedTime": created,
        }

    def lane_url(self, instance_id: str, suffix: str = "") -> str:
        return f"{self.base_url}{API}/instances/{instance_id}{suffix}?taskHub=Lane10&connection=Storage&code={self.key}"

    def requests_to(self, method: str, path_prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(API + path_prefix)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        if self.key not in (request.headers.get("x-functions-key"), request.query.get("code")):
            return web.json_response({"Message": "Unauthorized"}, status=401)
        tail = request.raw_path.split("?")[0][len(API) + 1 :]
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and tail.startswith(fault.path_prefix):
                fault.times -= 1
                if fault.act_first:
                    response = self._dispatch(request.method, tail, request.query, body)
                    await asyncio.sleep(fault.delay)
                    return response
                await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    return web.json_response(
                        {"Message": f"injected, see {self.lane_url('x')}"}, status=fault.status, headers=fault.headers
                    )
                break
        return self._dispatch(request.method, tail, request.query, body)

    def _dispatch(self, method: str, tail: str, query: Any, body: bytes) -> web.StreamResponse:
        parts = [unquote(part) for part in tail.split("/")]
        if method == "POST" and parts[0] == "orchestrators":
            return self._start(parts[1], parts[2] if len(parts) > 2 else None, body)
        if method == "GET" and tail == "instances":
            return self._query(query)
        if parts[0] == "instances" and len(parts) >= 2:
            instance = self.instances.get(parts[1])
            action = parts[2] if len(parts) > 2 else None
            if instance is None:
                return web.Response(status=404)
            if method == "GET" and action is None:
                return self._status(instance)
            if method == "DELETE" and action is None:
                del self.instances[parts[1]]
                return web.json_response({"instancesDeleted": 1})
            if method == "POST" and action is not None:
                return self._act(instance, action, parts[3:], query, body)
        return web.Response(status=405)

    def _start(self, name: str, instance_id: str | None, body: bytes) -> web.StreamResponse:
        if name not in self.orchestrators:
            message = f"The function '{name}' doesn't exist, see {self.base_url}{API}/orchestrators?code={self.key}"
            return web.json_response({"Message": message}, status=400)
        instance_id = instance_id or uuid.uuid4().hex
        if self.instances.get(instance_id, {}).get("runtimeStatus") in ACTIVE:
            return web.json_response({"Message": f"instance {instance_id} exists"}, status=409)
        self.add(instance_id, "Running", name=name)
        self.instances[instance_id]["input"] = json.loads(body) if body else None
        payload = {
            "id": instance_id,
            "statusQueryGetUri": self.lane_url(instance_id),
            "sendEventPostUri": self.lane_url(instance_id, "/raiseEvent/{eventName}"),
            "terminatePostUri": self.lane_url(instance_id, "/terminate") + "&reason={text}",
        }
        return web.json_response(payload, status=202, headers={"Location": payload["statusQueryGetUri"]})

    def _status(self, instance: dict[str, Any]) -> web.StreamResponse:
        status = instance["runtimeStatus"]
        if status in ACTIVE:
            location = self.lane_url(instance["instanceId"])
            return web.json_response(instance, status=202, headers={"Location": location, "Retry-After": "10"})
        return web.json_response(instance, status=400 if status in ("Failed", "Terminated") else 200)

    def _act(self, instance: dict[str, Any], action: str, rest: list[str], query: Any, body: bytes) -> web.StreamResponse:
        if instance["runtimeStatus"] not in ACTIVE:
            return web.Response(status=410)
        if action == "raiseEvent":
            self.events.append((instance["instanceId"], rest[0], json.loads(body) if body else None))
        elif action == "terminate":
            instance["runtimeStatus"] = "Terminated"
            instance["output"] = query.get("reason")
        elif action == "suspend":
            instance["runtimeStatus"] = "Suspended"
        elif action == "resume":
            instance["runtimeStatus"] = "Running"
        else:
            return web.Response(status=404)
        return web.Response(status=202)

    def _query(self, query: Any) -> web.StreamResponse:
        statuses = query.get("runtimeStatus", "").split(",") if query.get("runtimeStatus") else None
        matches = [i for i in self.instances.values() if statuses is None or i["runtimeStatus"] in statuses]
        matches.sort(key=lambda i: i["createdTime"])
        top = int(query.get("top", "100"))
        start = int(self._token or 0)
        page = matches[start : start + top]
        more = start + top < len(matches)
        return web.json_response(page, headers={"x-ms-continuation-token": str(start + top) if more else "null"})

    @property
    def _token(self) -> str | None:
        return self.seen[-1].headers.get("x-ms-continuation-token")


@pytest.fixture
async def lane() -> AsyncIterator[FakeLane]:
    fake = FakeLane()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def _options(**overrides: Any) -> LaneClientOptions:
    defaults: dict[str, Any] = dict(connect_timeout=2.0, read_timeout=5.0, attempts=3, backoff_seconds=0.01, backoff_max_seconds=0.05)
    return LaneClientOptions(**{**defaults, **overrides})


@pytest.fixture
async def client() -> AsyncIterator[LaneClient]:
    async with LaneClient(_options(page_size=2)) as lane_client:
        yield lane_client


@pytest.fixture
async def impatient_client() -> AsyncIterator[LaneClient]:
    async with LaneClient(_options(read_timeout=0.2)) as lane_client:
        yield lane_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_lane_secrets(lane: FakeLane, response: ProxiedResponse) -> None:
    everything = json.dumps(response.headers) + response.body.decode()
    assert lane.key not in everything
    assert lane.base_url.split("//")[1] not in everything


# --- Starts --------------------------------------------------------------------------------

async def test_start_sends_the_key_in_a_header_and_the_body_as_input(lane: FakeLane, client: LaneClient) -> None:
    started = await client.start_orchestration(lane.endpoint(), "hello", None, b'{"city": "Oslo"}', "application/json")
    assert started.status == 202
    assert lane.instances[started.instance_id]["input"] == {"city": "Oslo"}
    (seen,) = lane.requests_to("POST", "/orchestrators/hello")
    assert seen.headers["x-functions-key"] == lane.key
    assert "code" not in seen.query


async def test_start_with_an_instance_id_uses_it(lane: FakeLane, client: LaneClient) -> None:
    started = await client.start_orchestration(lane.endpoint(), "hello", "order 42:a", b"null")
    assert started.instance_id == "order 42:a"
    assert lane.instances["order 42:a"]["runtimeStatus"] == "Running"


async def test_unknown_orchestrator_is_a_bad_request_without_lane_secrets(lane: FakeLane, client: LaneClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.start_orchestration(lane.endpoint(), "nope", None, b"{}")
    body = json.dumps(caught.value.body())
    assert caught.value.status == 400
    assert "'nope' doesn't exist" in body
    assert lane.key not in body and lane.base_url not in body and "127.0.0.1" not in body


async def test_start_of_a_running_instance_id_is_a_conflict(lane: FakeLane, client: LaneClient) -> None:
    lane.add("dup", "Running")
    with pytest.raises(Conflict):
        await client.start_orchestration(lane.endpoint(), "hello", "dup", b"{}")


async def test_start_with_id_is_retried_on_503(lane: FakeLane, client: LaneClient) -> None:
    lane.faults.append(Fault("POST", "orchestrators/", status=503, times=2))
    started = await client.start_orchestration(lane.endpoint(), "hello", "abc", b"{}")
    assert started.instance_id == "abc"
    assert len(lane.requests_to("POST", "/orchestrators/hello/abc")) == 3


async def test_start_without_id_is_not_retried_on_503(lane: FakeLane, client: LaneClient) -> None:
    lane.faults.append(Fault("POST", "orchestrators/", status=503, times=5))
    with pytest.raises(LaneUnreachable) as caught:
        await client.start_orchestration(lane.endpoint(), "hello", None, b"{}")
    assert caught.value.status == 502
    assert len(lane.requests_to("POST", "/orchestrators/hello")) == 1
    assert lane.key not in json.dumps(caught.value.body())


async def test_start_without_id_is_not_retried_after_a_read_timeout(lane: FakeLane, impatient_client: LaneClient) -> None:
    lane.faults.append(Fault("POST", "orchestrators/", delay=1.0, act_first=True))
    with pytest.raises(LaneTimeout) as caught:
        await impatient_client.start_orchestration(lane.endpoint(), "hello", None, b"{}")
    assert caught.value.status == 504
    assert len(lane.requests_to("POST", "/orchestrators/hello")) == 1


async def test_start_with_id_that_landed_before_a_timeout_counts_as_started(
    lane: FakeLane, impatient_client: LaneClient
) -> None:
    # The first attempt creates the instance but answers too late; the retry sees 409.
    lane.faults.append(Fault("POST", "orchestrators/", delay=1.0, act_first=True))
    started = await impatient_client.start_orchestration(lane.endpoint(), "hello", "once", b"{}")
    assert started.instance_id == "once"
    assert len(lane.requests_to("POST", "/orchestrators/hello/once")) == 2
    assert list(lane.instances) == ["once"]


async def test_throttled_start_is_retried_honouring_retry_after(lane: FakeLane, client: LaneClient) -> None:
    lane.faults.append(Fault("POST", "orchestrators/", status=429, headers={"Retry-After": "0"}))
    started = await client.start_orchestration(lane.endpoint(), "hello", None, b"{}")
    assert started.instance_id in lane.instances
    assert len(lane.requests_to("POST", "/orchestrators/hello")) == 2


async def test_refused_connections_are_retried_then_unreachable(
    client: LaneClient, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = LaneEndpoint(f"http://127.0.0.1:{_free_port()}", "refused-key")
    with caplog.at_level(logging.WARNING, logger="router.lane_client"):
        with pytest.raises(LaneUnreachable) as caught:
            await client.start_orchestration(endpoint, "hello", None, b"{}")
    assert "after 3 attempts" in caught.value.message
    assert len([r for r in caplog.records if "not sent" in r.getMessage()]) == 2
    assert "refused-key" not in caplog.text and "refused-key" not in json.dumps(caught.value.body())


async def test_a_rejected_key_is_reported_as_such(lane: FakeLane, client: LaneClient) -> None:
    with pytest.raises(LaneKeyRejected) as caught:
        await client.start_orchestration(lane.endpoint("stale-key"), "hello", None, b"{}")
    assert caught.value.status == 502
    assert "stale-key" not in json.dumps(caught.value.body())


async def test_a_broken_base_url_is_unreachable(client: LaneClient) -> None:
    with pytest.raises(LaneUnreachable):
        await client.start_orchestration(LaneEndpoint("ftp://nowhere", "k"), "hello", None, b"{}")


def test_endpoint_repr_hides_the_key() -> None:
    assert "hide-me" not in repr(LaneEndpoint("http://127.0.0.1:1", "hide-me"))


# --- Management ----------------------------------------------------------------------------

async def test_status_of_a_running_instance_points_at_the_router(lane: FakeLane, client: LaneClient) -> None:
    lane.add("run1", "Running", output={"next": lane.lane_url("run1", "/raiseEvent/Go")})
    response = await client.proxy(lane.endpoint(), "GET", "run1", "status", routes=ROUTES)
    assert response.status == 202
    assert response.headers["location"] == f"{ROUTER_STATUS}/run1"
    assert response.headers["retry-after"] == "10"
    body = json.loads(response.body)
    assert body["runtimeStatus"] == "Running"
    assert body["output"] == {"next": f"{ROUTER_STATUS}/run1/raiseEvent/Go"}
    assert_no_lane_secrets(lane, response)


async def test_status_without_routes_removes_lane_urls(lane: FakeLane, client: LaneClient) -> None:
    lane.add("run1", "Running")
    response = await client.proxy(lane.endpoint(), "GET", "run1", "status")
    assert "location" not in response.headers
    assert_no_lane_secrets(lane, response)


async def test_status_of_completed_and_failed_instances_passes_through(lane: FakeLane, client: LaneClient) -> None:
    lane.add("done", "Completed", output=42)
    lane.add("broke", "Failed", output="boom")
    done = await client.proxy(lane.endpoint(), "GET", "done", "status", routes=ROUTES)
    broke = await client.proxy(lane.endpoint(), "GET", "broke", "status", routes=ROUTES)
    assert (done.status, json.loads(done.body)["output"]) == (200, 42)
    assert (broke.status, json.loads(broke.body)["runtimeStatus"]) == (400, "Failed")


async def test_status_forwards_show_flags_but_no_key_or_other_hub(lane: FakeLane, client: LaneClient) -> None:
    lane.add("q1", "Completed")
    query = {"showHistory": "true", "code": "client-key", "taskHub": "OtherHub", "connection": "Other"}
    await client.proxy(lane.endpoint(), "GET", "q1", "status", query=query)
    (seen,) = lane.requests_to("GET", "/instances/q1")
    assert seen.query == {"showHistory": "true"}


async def test_status_of_a_missing_instance_is_not_found(lane: FakeLane, client: LaneClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.proxy(lane.endpoint(), "GET", "ghost", "status")
    assert caught.value.status == 404


async def test_status_is_retried_on_503(lane: FakeLane, client: LaneClient) -> None:
    lane.add("r", "Running")
    lane.faults.append(Fault("GET", "instances/r", status=503, times=2))
    response = await client.proxy(lane.endpoint(), "GET", "r", "status")
    assert response.status == 202
    assert len(lane.requests_to("GET", "/instances/r")) == 3


async def test_status_gives_up_after_the_last_attempt(lane: FakeLane, client: LaneClient) -> None:
    lane.add("r", "Running")
    lane.faults.append(Fault("GET", "instances/r", status=504, times=9))
    with pytest.raises(LaneTimeout) as caught:
        await client.proxy(lane.endpoint(), "GET", "r", "status")
    assert len(lane.requests_to("GET", "/instances/r")) == 3
    assert lane.key not in caught.value.message and "127.0.0.1" not in caught.value.message


async def test_slow_status_is_retried_then_times_out(lane: FakeLane, impatient_client: LaneClient) -> None:
    lane.add("slow", "Running")
    lane.faults.append(Fault("GET", "instances/slow", delay=1.0, times=3))
    with pytest.raises(LaneTimeout):
        await impatient_client.proxy(lane.endpoint(), "GET", "slow", "status")
    assert len(lane.requests_to("GET", "/instances/slow")) == 3


async def test_raise_event_forwards_body_and_safe_headers_only(lane: FakeLane, client: LaneClient) -> None:
    lane.add("e1", "Running")
    headers = {"Content-Type": "application/json", "x-functions-key": "client-key", "Cookie": "a=b", "Connection": "close"}
    response = await client.proxy(
        lane.endpoint(), "POST", "e1", "raiseEvent", "Approval", {"code": "client-key"}, b'{"ok": true}', headers
    )
    assert response.status == 202
    assert lane.events == [("e1", "Approval", {"ok": True})]
    (seen,) = lane.requests_to("POST", "/instances/e1/raiseEvent/Approval")
    assert seen.headers["x-functions-key"] == lane.key
    assert "Cookie" not in seen.headers and seen.query == {}
    assert seen.headers["Content-Type"] == "application/json"


async def test_raise_event_is_not_retried_on_503(lane: FakeLane, client: LaneClient) -> None:
    lane.add("e2", "Running")
    lane.faults.append(Fault("POST", "instances/e2", status=503, times=5))
    with pytest.raises(LaneUnreachable):
        await client.proxy(lane.endpoint(), "POST", "e2", "raiseEvent", "Go", body=b"1")
    assert len(lane.requests_to("POST", "/instances/e2")) == 1


async def test_terminate_suspend_resume(lane: FakeLane, client: LaneClient) -> None:
    lane.add("t1", "Running")
    await client.proxy(lane.endpoint(), "POST", "t1", "suspend", query={"reason": "pause"})
    assert lane.instances["t1"]["runtimeStatus"] == "Suspended"
    await client.proxy(lane.endpoint(), "POST", "t1", "resume")
    assert lane.instances["t1"]["runtimeStatus"] == "Running"
    response = await client.proxy(lane.endpoint(), "POST", "t1", "terminate", query={"reason": "stop it"})
    assert response.status == 202
    assert lane.instances["t1"]["output"] == "stop it"


async def test_acting_on_a_finished_instance_is_gone(lane: FakeLane, client: LaneClient) -> None:
    lane.add("fin", "Completed")
    with pytest.raises(InstanceNotRunning) as caught:
        await client.proxy(lane.endpoint(), "POST", "fin", "terminate")
    assert caught.value.status == 410


async def test_purge(lane: FakeLane, client: LaneClient) -> None:
    lane.add("p1", "Completed")
    response = await client.proxy(lane.endpoint(), "DELETE", "p1", "purge")
    assert (response.status, json.loads(response.body)) == (200, {"instancesDeleted": 1})
    assert "p1" not in lane.instances
    with pytest.raises(NotFound):
        await client.proxy(lane.endpoint(), "DELETE", "p1", "purge")


@pytest.mark.parametrize(
    ("method", "action", "event_name"),
    [("POST", "status", None), ("GET", "terminate", None), ("POST", "raiseEvent", None), ("POST", "rewind", None)],
)
async def test_bad_method_or_action_is_refused_before_calling_the_lane(
    lane: FakeLane, client: LaneClient, method: str, action: Any, event_name: str | None
) -> None:
    with pytest.raises(BadRequest):
        await client.proxy(lane.endpoint(), method, "x", action, event_name)
    assert lane.seen == []


# --- Counting and listing ------------------------------------------------------------------

async def test_count_in_flight_follows_pages_and_skips_entities(lane: FakeLane, client: LaneClient) -> None:
    lane.add("r1", "Running", age=5)
    lane.add("r2", "Running", age=90)
    lane.add("p1", "Pending", age=1)
    lane.add("s1", "Suspended", age=30)
    lane.add("n1", "ContinuedAsNew", age=2)
    lane.add("@counter@k1", "Running", age=500)
    lane.add("@counter@k2", "Running", age=400)
    lane.add("c1", "Completed", age=1000)
    lane.add("f1", "Failed", age=1000)
    in_flight = await client.count_in_flight(lane.endpoint())
    assert (in_flight.running, in_flight.pending, in_flight.suspended, in_flight.total) == (3, 1, 1, 5)
    assert in_flight.oldest_created_time == datetime(2026, 1, 1, tzinfo=timezone.utc) - timedelta(minutes=90)
    pages = lane.requests_to("GET", "/instances")
    assert len(pages) == 4  # seven matching instances, two per page
    statuses = "Running,Pending,Suspended,ContinuedAsNew"
    assert pages[0].query == {"showInput": "false", "runtimeStatus": statuses, "top": "2"}
    assert [p.headers.get("x-ms-continuation-token") for p in pages] == [None, "2", "4", "6"]


async def test_count_in_flight_of_an_idle_lane(lane: FakeLane, client: LaneClient) -> None:
    lane.add("c1", "Completed")
    lane.add("@counter@k1", "Running")
    in_flight = await client.count_in_flight(lane.endpoint())
    assert (in_flight.total, in_flight.oldest_created_time) == (0, None)


async def test_count_in_flight_is_retried_per_page(lane: FakeLane, client: LaneClient) -> None:
    lane.add("r1", "Running")
    lane.faults.append(Fault("GET", "instances", status=502))
    assert (await client.count_in_flight(lane.endpoint())).running == 1


async def test_list_instances_returns_the_next_token(lane: FakeLane, client: LaneClient) -> None:
    for n in range(3):
        lane.add(f"i{n}", "Completed", age=10 - n, output=lane.lane_url(f"i{n}"))
    page, token = await client.list_instances(lane.endpoint(), ["Completed"], 2, None, routes=ROUTES)
    assert [i["instanceId"] for i in page] == ["i0", "i1"]
    assert page[0]["output"] == f"{ROUTER_STATUS}/i0"
    assert token == "2"
    page, token = await client.list_instances(lane.endpoint(), ["Completed"], 2, token)
    assert [i["instanceId"] for i in page] == ["i2"]
    assert token is None


async def test_terminate_that_landed_before_a_timeout_counts_as_done(
    lane: FakeLane, impatient_client: LaneClient
) -> None:
    lane.add("t2", "Running")
    lane.faults.append(Fault("POST", "instances/t2/terminate", delay=1.0, act_first=True))
    response = await impatient_client.proxy(lane.endpoint(), "POST", "t2", "terminate")
    assert response.status == 202
    assert lane.instances["t2"]["runtimeStatus"] == "Terminated"
    assert len(lane.requests_to("POST", "/instances/t2/terminate")) == 2


async def test_one_client_serves_callers_on_other_event_loops(lane: FakeLane) -> None:
    # A sync Functions activity may drive the shared client with asyncio.run, a new loop each time.
    shared = LaneClient(_options())

    def start_on_a_fresh_loop() -> str:
        return asyncio.run(shared.start_orchestration(lane.endpoint(), "hello", None, b"{}")).instance_id

    first = await anyio.to_thread.run_sync(start_on_a_fresh_loop)
    second = await anyio.to_thread.run_sync(start_on_a_fresh_loop)
    third = (await shared.start_orchestration(lane.endpoint(), "hello", None, b"{}")).instance_id
    await shared.aclose()
    assert {first, second, third} <= set(lane.instances)
    assert len({first, second, third}) == 3
