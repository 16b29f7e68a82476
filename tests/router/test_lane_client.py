"""LaneClient through its transport seam: real HTTP requests and answers, no network, no waiting."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

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
from router.lane_client import LaneClient, LaneClientOptions, LaneEndpoint
from router.urls import RouterRoutes

pytestmark = pytest.mark.anyio

KEY = "s3cr3t+lane/key=="
LANE = LaneEndpoint("https://lane-1-0.example.net", KEY)
API = "https://lane-1-0.example.net/runtime/webhooks/durabletask"
ROUTES = RouterRoutes("https://router.example.com", "api", "1.0")
ROUTER_INSTANCES = "https://router.example.com/api/instances/1.0"

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Scripted:
    """A lane that answers, fails or hands over to a handler with `steps` in turn, repeating the
    last; it records the requests."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):  # a fresh copy: a repeated answer is a new one
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)


def lane_url(instance_id: str, suffix: str = "") -> str:
    """A URL as the lane writes it: its own host, task hub, connection and key."""
    return f"{API}/instances/{instance_id}{suffix}?taskHub=Lane10&connection=Storage&code={KEY}"


def running(request: httpx.Request) -> httpx.Response:
    instance_id = request.url.path.rsplit("/", 1)[-1]
    body = {"instanceId": instance_id, "runtimeStatus": "Running", "output": {"next": lane_url(instance_id, "/raiseEvent/Go")}}
    return httpx.Response(202, json=body, headers={"Location": lane_url(instance_id), "Retry-After": "10"})


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202)


def error(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"Message": f"injected, see {lane_url('x')}"}, headers=headers)


class Sleeps(list[float]):
    """Records the backoff instead of waiting it out."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(handler: Callable[[httpx.Request], httpx.Response], sleeps: Sleeps | None = None, **options: Any) -> LaneClient:
    return LaneClient(LaneClientOptions(**options), transport=httpx.MockTransport(handler), sleep=Sleeps() if sleeps is None else sleeps)


def assert_no_secrets(text: str) -> None:
    assert KEY not in text
    assert "lane-1-0.example.net" not in text


# --- Starts --------------------------------------------------------------------------------

async def test_start_sends_the_key_in_a_header_and_the_body_as_input() -> None:
    lane = Scripted(httpx.Response(202, json={"id": "abc"}))
    result = await client(lane).start_orchestration(LANE, "hello", None, b'{"city": "Oslo"}')
    (request,) = lane.requests
    assert (result.instance_id, result.status) == ("abc", 202)
    assert (request.method, str(request.url)) == ("POST", f"{API}/orchestrators/hello")
    assert request.headers["x-functions-key"] == KEY
    assert request.content == b'{"city": "Oslo"}'


async def test_start_with_an_instance_id_puts_it_in_the_path() -> None:
    lane = Scripted(httpx.Response(404), httpx.Response(202, json={"id": "order 42/a"}))
    result = await client(lane).start_orchestration(LANE, "hello", "order 42/a", b"null")
    assert result.instance_id == "order 42/a"
    assert lane.requests[-1].url.raw_path == b"/runtime/webhooks/durabletask/orchestrators/hello/order%2042%2Fa"


async def test_an_unknown_orchestrator_is_a_bad_request_without_lane_secrets() -> None:
    message = f"The function 'nope' doesn't exist, see {API}/orchestrators?code={KEY}"
    lane = Scripted(httpx.Response(400, json={"Message": message}))
    with pytest.raises(BadRequest) as caught:
        await client(lane).start_orchestration(LANE, "nope", None, b"{}")
    assert "'nope' doesn't exist" in caught.value.message
    assert_no_secrets(json.dumps(caught.value.body()))


async def test_a_start_without_an_id_says_which_instance_it_created_or_fails() -> None:
    lane = Scripted(httpx.Response(202, json={"no": "id"}))
    with pytest.raises(LaneUnreachable):
        await client(lane).start_orchestration(LANE, "hello", None, b"{}")


# --- Retries -------------------------------------------------------------------------------

async def test_a_start_that_never_left_is_retried_even_without_an_id() -> None:
    lane = Scripted(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.Response(202, json={"id": "a"}))
    result = await client(lane).start_orchestration(LANE, "hello", None, b"{}")
    assert result.instance_id == "a"
    assert len(lane.requests) == 3


async def test_requests_that_never_leave_are_tried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    lane = Scripted(httpx.ConnectError(f"cannot connect to {API}"))
    with caplog.at_level(logging.WARNING, logger="router.lane_transport"), pytest.raises(LaneUnreachable) as caught:
        await client(lane).start_orchestration(LANE, "hello", None, b"{}")
    assert "after 3 attempts" in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert [r.getMessage().count("not sent") for r in caplog.records] == [1, 1]


async def test_a_start_without_an_id_that_may_have_landed_is_not_retried() -> None:
    lane = Scripted(httpx.ReadTimeout("no answer"), httpx.Response(202, json={"id": "second"}))
    with pytest.raises(LaneTimeout) as caught:
        await client(lane).start_orchestration(LANE, "hello", None, b"{}")
    assert "after 1 attempt " in caught.value.message
    assert len(lane.requests) == 1


async def test_a_start_without_an_id_is_not_retried_on_a_gateway_failure() -> None:
    lane = Scripted(error(503), httpx.Response(202, json={"id": "second"}))
    with pytest.raises(LaneUnreachable) as caught:
        await client(lane).start_orchestration(LANE, "hello", None, b"{}")
    assert caught.value.status == 502
    assert len(lane.requests) == 1


# A start with an id is read before it is sent, and read again before it is sent again: a lane
# replaces an instance whose id exists instead of refusing it (tests/router/test_forwarding.py).

async def test_a_start_with_an_id_that_landed_before_a_lost_answer_counts_as_started() -> None:
    lane = Scripted(httpx.Response(404), httpx.ReadTimeout("no answer"), running)
    result = await client(lane).start_orchestration(LANE, "hello", "once", b"{}")
    assert (result.instance_id, result.status) == ("once", 202)
    assert [r.method for r in lane.requests] == ["GET", "POST", "GET"]


@pytest.mark.parametrize("gateway", [502, 503, 504])
async def test_a_start_lost_behind_a_gateway_is_read_back_before_it_is_sent_again(gateway: int) -> None:
    # A gateway that gave up may have passed the start on before it did.
    lane = Scripted(httpx.Response(404), error(gateway), running)
    assert (await client(lane).start_orchestration(LANE, "hello", "abc", b"{}")).instance_id == "abc"
    assert [r.method for r in lane.requests] == ["GET", "POST", "GET"]


async def test_a_taken_id_after_throttling_is_someone_elses() -> None:
    # 429 says the lane did not do it, so the instance is someone else's.
    lane = Scripted(httpx.Response(404), error(429), error(409))
    with pytest.raises(Conflict) as caught:
        await client(lane).start_orchestration(LANE, "hello", "abc", b"{}")
    assert caught.value.code == "instance_exists"


async def test_a_start_with_an_id_that_exists_already_sends_no_start() -> None:
    lane = Scripted(running)
    with pytest.raises(Conflict) as caught:
        await client(lane).start_orchestration(LANE, "hello", "taken", b"{}")
    assert caught.value.body() == {
        "error": "instance_exists", "id": "taken", "runtimeStatus": "Running", "message": caught.value.message}
    assert [r.method for r in lane.requests] == ["GET"]


async def test_a_start_with_an_id_is_retried_on_gateway_failures_once_read_absent() -> None:
    lane = Scripted(httpx.Response(404), error(502), httpx.Response(404), error(503), httpx.Response(404),
                    httpx.Response(202, json={"id": "abc"}))
    result = await client(lane).start_orchestration(LANE, "hello", "abc", b"{}")
    assert result.instance_id == "abc"
    assert [r.method for r in lane.requests] == ["GET", "POST"] * 3


async def test_a_terminate_that_landed_before_a_lost_answer_counts_as_done() -> None:
    lane = Scripted(httpx.ReadError("connection reset"), error(410))
    response = await client(lane).proxy(LANE, "POST", "t1", "terminate")
    assert response.status == 202
    assert len(lane.requests) == 2


async def test_terminating_a_finished_instance_is_gone() -> None:
    lane = Scripted(error(410))
    with pytest.raises(InstanceNotRunning) as caught:
        await client(lane).proxy(LANE, "POST", "t1", "terminate")
    assert caught.value.status == 410


async def test_throttling_is_retried_even_for_a_start_without_an_id_after_retry_after() -> None:
    sleeps = Sleeps()
    lane = Scripted(error(429, **{"Retry-After": "2"}), httpx.Response(202, json={"id": "a"}))
    await client(lane, sleeps).start_orchestration(LANE, "hello", None, b"{}")
    assert sleeps == [2.0]


async def test_retry_after_is_capped_by_the_longest_backoff() -> None:
    sleeps = Sleeps()
    lane = Scripted(error(503, **{"Retry-After": "600"}), running)
    await client(lane, sleeps, backoff_max_seconds=4.0).proxy(LANE, "GET", "r", "status")
    assert sleeps == [4.0]


async def test_backoff_doubles_with_jitter_when_the_lane_gives_no_retry_after() -> None:
    sleeps = Sleeps()
    lane = Scripted(httpx.ConnectError("refused"), error(503, **{"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), running)
    await client(lane, sleeps, backoff_seconds=1.0, backoff_max_seconds=10.0).proxy(LANE, "GET", "r", "status")
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


async def test_a_gateway_failure_on_every_attempt_is_reported_with_the_count() -> None:
    lane = Scripted(error(504))
    with pytest.raises(LaneTimeout) as caught:
        await client(lane).proxy(LANE, "GET", "r", "status")
    assert "after 3 attempts" in caught.value.message
    assert len(lane.requests) == 3


async def test_raising_an_event_is_never_sent_twice() -> None:
    lane = Scripted(httpx.ReadError("reset"), accepted)
    with pytest.raises(LaneUnreachable):
        await client(lane).proxy(LANE, "POST", "e1", "raiseEvent", "Go", body=b"1")
    assert len(lane.requests) == 1


# --- Error tables --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequest),
        (401, LaneKeyRejected),
        (403, LaneKeyRejected),
        (404, NotFound),
        (409, Conflict),
        (410, InstanceNotRunning),
        (413, PayloadTooLarge),
        (422, BadRequest),
        (429, LaneUnreachable),
        (500, LaneUnreachable),
        (502, LaneUnreachable),
        (503, LaneUnreachable),
        (504, LaneTimeout),
        (307, LaneUnreachable),
    ],
)
async def test_a_lane_answer_becomes_its_router_error(status: int, expected: type[RouterError]) -> None:
    lane = Scripted(error(status))
    with pytest.raises(RouterError) as caught:
        await client(lane, attempts=1).proxy(LANE, "POST", "i1", "suspend")
    assert type(caught.value) is expected
    assert caught.value.details["laneStatus"] == status
    assert_no_secrets(str(caught.value) + json.dumps(caught.value.body()))


async def test_a_refused_key_is_not_retried() -> None:
    lane = Scripted(error(401))
    with pytest.raises(LaneKeyRejected):
        await client(lane).count_in_flight(LANE)
    assert len(lane.requests) == 1


@pytest.mark.parametrize(
    ("raised", "expected", "attempts"),
    [
        (httpx.ConnectError("refused"), LaneUnreachable, 3),
        (httpx.ConnectTimeout("slow"), LaneTimeout, 3),
        (httpx.PoolTimeout("busy"), LaneTimeout, 3),
        (httpx.ReadTimeout("slow"), LaneTimeout, 3),
        (httpx.WriteTimeout("slow"), LaneTimeout, 3),
        (httpx.ReadError("reset"), LaneUnreachable, 3),
        (httpx.RemoteProtocolError("garbled"), LaneUnreachable, 3),
        (httpx.UnsupportedProtocol("ftp"), LaneUnreachable, 1),
        (httpx.DecodingError("bad gzip"), LaneUnreachable, 1),
    ],
)
async def test_an_httpx_error_becomes_its_router_error_raised_from_it(
    raised: Exception, expected: type[RouterError], attempts: int
) -> None:
    lane = Scripted(raised)
    with pytest.raises(RouterError) as caught:
        await client(lane).proxy(LANE, "GET", "i1", "status")
    assert type(caught.value) is expected
    assert caught.value.__cause__ is raised
    assert len(lane.requests) == attempts


async def test_a_lane_address_that_is_no_url_is_unreachable_without_a_request() -> None:
    lane = Scripted(accepted)
    with pytest.raises(LaneUnreachable, match="not a usable http"):
        await client(lane).start_orchestration(LaneEndpoint("http://lane:port", KEY), "hello", None, b"{}")
    assert lane.requests == []


async def test_a_lane_address_that_is_not_http_is_unreachable() -> None:
    # The real transport refuses the scheme before opening any connection.
    async with LaneClient() as real:
        with pytest.raises(LaneUnreachable, match="not a usable http"):
            await real.start_orchestration(LaneEndpoint("ftp://nowhere", KEY), "hello", None, b"{}")


async def test_the_key_is_in_no_url_message_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    lane = Scripted(httpx.ConnectError(f"cannot connect to {API}"), httpx.ReadTimeout("late"), error(503))
    with caplog.at_level(logging.DEBUG), pytest.raises(LaneUnreachable) as caught:
        await client(lane).proxy(LANE, "GET", "i1", "status", query={"code": KEY})
    assert [request.headers["x-functions-key"] for request in lane.requests] == [KEY] * 3
    assert all(KEY not in str(request.url) for request in lane.requests)
    assert KEY not in caplog.text
    assert KEY not in "".join(traceback.format_exception(caught.value))
    assert_no_secrets(json.dumps(caught.value.body()))


def test_an_endpoint_repr_hides_the_key() -> None:
    assert KEY not in repr(LANE)


async def test_redirects_are_not_followed() -> None:
    lane = Scripted(httpx.Response(307, headers={"Location": "https://elsewhere.example.org/steal"}))
    with pytest.raises(LaneUnreachable):
        await client(lane).proxy(LANE, "GET", "i1", "status")
    assert [request.url.host for request in lane.requests] == ["lane-1-0.example.net"]


# --- Management ----------------------------------------------------------------------------

async def test_the_status_of_a_running_instance_points_at_the_router() -> None:
    response = await client(running).proxy(LANE, "GET", "run1", "status", routes=ROUTES)
    assert response.status == 202
    assert response.headers["location"] == f"{ROUTER_INSTANCES}/run1"
    assert response.headers["retry-after"] == "10"
    assert json.loads(response.body)["output"] == {"next": f"{ROUTER_INSTANCES}/run1/raiseEvent/Go"}
    assert_no_secrets(json.dumps(response.headers) + response.body.decode())


async def test_a_status_without_routes_removes_lane_urls() -> None:
    response = await client(running).proxy(LANE, "GET", "run1", "status")
    assert "location" not in response.headers
    assert_no_secrets(json.dumps(response.headers) + response.body.decode())


async def test_the_status_of_a_failed_instance_passes_through() -> None:
    lane = Scripted(httpx.Response(400, json={"runtimeStatus": "Failed", "output": "boom"}))
    response = await client(lane).proxy(LANE, "GET", "broke", "status")
    assert (response.status, json.loads(response.body)["runtimeStatus"]) == (400, "Failed")


async def test_a_status_forwards_show_flags_but_no_key_or_other_hub() -> None:
    lane = Scripted(running)
    query = {"showHistory": "true", "code": "client-key", "taskHub": "OtherHub", "connection": "Other"}
    await client(lane).proxy(LANE, "GET", "q1", "status", query=query)
    assert dict(lane.requests[0].url.params) == {"showHistory": "true"}


async def test_raise_event_forwards_the_body_and_safe_headers_only() -> None:
    lane = Scripted(accepted)
    headers = {"Content-Type": "application/json", "x-functions-key": "client-key", "Cookie": "a=b"}
    response = await client(lane).proxy(LANE, "POST", "e1", "raiseEvent", "Appro val", {}, b'{"ok": true}', headers)
    (request,) = lane.requests
    assert response.status == 202
    assert request.url.raw_path == b"/runtime/webhooks/durabletask/instances/e1/raiseEvent/Appro%20val"
    assert (request.content, request.headers["content-type"]) == (b'{"ok": true}', "application/json")
    assert request.headers["x-functions-key"] == KEY and "cookie" not in request.headers


@pytest.mark.parametrize(
    ("method", "action", "path"),
    [
        ("POST", "terminate", "/instances/i1/terminate"),
        ("POST", "suspend", "/instances/i1/suspend"),
        ("POST", "resume", "/instances/i1/resume"),
        ("DELETE", "purge", "/instances/i1"),
    ],
)
async def test_each_action_reaches_its_lane_route(method: str, action: str, path: str) -> None:
    lane = Scripted(accepted)
    await client(lane).proxy(LANE, method, "i1", action)
    assert (lane.requests[0].method, lane.requests[0].url.path) == (method, f"/runtime/webhooks/durabletask{path}")


@pytest.mark.parametrize(
    ("method", "action", "event_name"),
    [("POST", "status", None), ("GET", "terminate", None), ("POST", "raiseEvent", None), ("POST", "rewind", None)],
)
async def test_a_bad_method_or_action_is_refused_before_calling_the_lane(
    method: str, action: str, event_name: str | None
) -> None:
    lane = Scripted(accepted)
    with pytest.raises(BadRequest):
        await client(lane).proxy(LANE, method, "x", action, event_name)
    assert lane.requests == []


# --- Counting and listing ------------------------------------------------------------------

def instance(instance_id: str, status: str, created: str = "2026-01-01T00:00:00+00:00") -> dict[str, Any]:
    return {"instanceId": instance_id, "runtimeStatus": status, "createdTime": created}


PAGES = {
    None: [instance("r1", "Running", "2026-01-01T10:00:00+00:00"), instance("@counter@k1", "Running", "2025-01-01T00:00:00+00:00")],
    "2": [instance("p1", "Pending"), instance("s1", "Suspended")],
    "4": [instance("n1", "ContinuedAsNew", "2026-01-01T09:00:00+00:00"), instance("c1", "Completed", "2025-06-01T00:00:00+00:00")],
}
NEXT = {None: "2", "2": "4", "4": "null"}


def paged(request: httpx.Request) -> httpx.Response:
    if "/entities/" in request.url.path:  # the entity the pages list is a real one
        return httpx.Response(200, json={"count": 1})
    token = request.headers.get("x-ms-continuation-token")
    return httpx.Response(200, json=PAGES[token], headers={"x-ms-continuation-token": NEXT[token]})


async def test_count_in_flight_follows_every_page_and_skips_entities() -> None:
    lane = Scripted(paged)
    in_flight = await client(lane, page_size=2).count_in_flight(LANE)
    assert (in_flight.running, in_flight.pending, in_flight.suspended) == (2, 1, 1)
    assert in_flight.oldest_created_time == datetime(2026, 1, 1, tzinfo=timezone.utc)
    queries = [r for r in lane.requests if r.url.path.endswith("/instances")]
    assert [r.headers.get("x-ms-continuation-token") for r in queries] == [None, "2", "4"]
    assert dict(lane.requests[0].url.params) == {
        "showInput": "false",
        "runtimeStatus": "Running,ContinuedAsNew,Pending,Suspended",
        "top": "2",
    }


async def test_count_in_flight_counts_an_orchestration_that_took_an_entity_like_id() -> None:
    def lane(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/entities/evil/x"):
            return httpx.Response(404)  # no such entity: the lane's "@evil@x" is an orchestration
        return httpx.Response(200, json=[instance("@evil@x", "Running")])

    in_flight = await client(Scripted(lane)).count_in_flight(LANE)
    assert in_flight.running == 1


async def test_count_in_flight_of_an_idle_lane() -> None:
    lane = Scripted(httpx.Response(200, json=[instance("@counter@k1", "Running")]))
    in_flight = await client(lane).count_in_flight(LANE)
    assert (in_flight.total, in_flight.oldest_created_time) == (0, None)


async def test_count_in_flight_refuses_a_repeated_continuation_token() -> None:
    lane = Scripted(httpx.Response(200, json=[], headers={"x-ms-continuation-token": "same"}))
    with pytest.raises(LaneUnreachable, match="repeats a continuation token"):
        await client(lane).count_in_flight(LANE)
    assert len(lane.requests) == 2


async def test_count_in_flight_gives_up_after_the_last_page_allowed() -> None:
    pages = iter(range(100))

    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[], headers={"x-ms-continuation-token": str(next(pages))})

    with pytest.raises(LaneUnreachable, match="did not end after 5 pages"):
        await client(endless, max_pages=5).count_in_flight(LANE)


async def test_count_in_flight_refuses_a_page_that_is_not_a_list() -> None:
    lane = Scripted(httpx.Response(200, json={"value": []}))
    with pytest.raises(LaneUnreachable, match="something other than a list"):
        await client(lane).count_in_flight(LANE)


async def test_count_in_flight_retries_a_page() -> None:
    lane = Scripted(error(502), httpx.Response(200, json=[instance("r1", "Running")]))
    assert (await client(lane).count_in_flight(LANE)).running == 1


# The drain poll: one lane call however many are in flight. The Durable extension pages the
# instance query with `top` and an x-ms-continuation-token header on every page, "null" on the
# last (Azure/azure-functions-durable-extension, src/WebJobs.Extensions.DurableTask/
# HttpApiHandler.cs, the instance query; the dev host answers alike, devhost/durable_api.py).

async def test_drain_count_reads_one_page_and_says_at_least_when_more_follow() -> None:
    lane = Scripted(paged)
    in_flight = await client(lane, page_size=2).drain_count(LANE)
    assert (in_flight.running, in_flight.total, in_flight.complete) == (1, 1, False)
    assert len(lane.requests) == 1  # the "@counter@k1" is not looked up: r1 already says not zero
    assert dict(lane.requests[0].url.params)["top"] == "2"


async def test_drain_count_of_a_lane_on_one_page_is_exact() -> None:
    lane = Scripted(httpx.Response(200, json=[instance("r1", "Running"), instance("p1", "Pending")],
                                   headers={"x-ms-continuation-token": "null"}))
    in_flight = await client(lane).drain_count(LANE)
    assert (in_flight.running, in_flight.pending, in_flight.complete) == (1, 1, True)
    assert len(lane.requests) == 1


async def test_drain_count_looks_an_entity_up_once_and_then_remembers_it() -> None:
    lane = Scripted(lambda request: httpx.Response(200, json={"count": 1}) if "/entities/" in request.url.path
                    else httpx.Response(200, json=[instance("@counter@k1", "Running")]))
    lanes = client(lane)
    first = await lanes.drain_count(LANE)
    assert (first.total, first.complete, len(lane.requests)) == (0, True, 2)
    again = await lanes.drain_count(LANE)
    assert (again.total, again.complete, len(lane.requests)) == (0, True, 3)  # one call: the query


async def test_drain_count_counts_an_orchestration_that_took_an_entity_like_id() -> None:
    def lane(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/entities/evil/x"):
            return httpx.Response(404)
        return httpx.Response(200, json=[instance("@evil@x", "Running")])

    assert (await client(Scripted(lane)).drain_count(LANE)).running == 1


async def test_drain_count_counts_in_full_when_the_first_page_is_only_entities() -> None:
    pages = {None: [instance("@counter@k1", "Running")], "2": [instance("r2", "Running")]}

    def lane(request: httpx.Request) -> httpx.Response:
        if "/entities/" in request.url.path:
            return httpx.Response(200, json={"count": 1})
        token = request.headers.get("x-ms-continuation-token")
        return httpx.Response(200, json=pages[token], headers={"x-ms-continuation-token": "2" if token is None else "null"})

    in_flight = await client(Scripted(lane), page_size=1).drain_count(LANE)
    assert (in_flight.running, in_flight.complete) == (1, True)


async def test_list_instances_scrubs_the_page_and_returns_the_next_token() -> None:
    page = [{"instanceId": "i0", "output": lane_url("i0")}]
    lane = Scripted(httpx.Response(200, json=page, headers={"x-ms-continuation-token": "2"}))
    instances, token = await client(lane).list_instances(LANE, ["Completed"], 2, "1", routes=ROUTES)
    assert instances == [{"instanceId": "i0", "output": f"{ROUTER_INSTANCES}/i0"}]
    assert token == "2"
    assert dict(lane.requests[0].url.params) == {"showInput": "false", "runtimeStatus": "Completed", "top": "2"}
    assert lane.requests[0].headers["x-ms-continuation-token"] == "1"
