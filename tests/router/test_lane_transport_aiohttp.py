"""The lane client's aiohttp sender against real local sockets: what each failure maps to.

A mapping decides whether `RetryingSender` may send a request again, so each is pinned here with
a server that fails in that exact way. The hazard: aiohttp's ServerDisconnectedError is a
ClientConnectionError, and a blanket map of those to httpx.ConnectTimeout (as the httpx-aiohttp
package has it) would make a start that reached the lane look "never sent" and send it twice.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from devhost.ports import free_port
from router.errors import LaneTimeout, LaneUnreachable
from router.lane_client import LaneClient, LaneClientOptions, LaneEndpoint
from router.lane_transport import NOT_SENT, AiohttpSender, LaneAnswer, LaneRequest, Timeouts

pytestmark = pytest.mark.anyio

KEY = "s3cr3t+lane/key=="


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Received:
    head: str
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split("\r\n", 1)[0]

    def header(self, name: str) -> list[str]:
        lines = self.head.split("\r\n")[1:]
        return [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith(name.lower() + ":")]


Behaviour = Callable[[Received, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawLane:
    """A socket server that reads each request whole, records it, then does what `behaviour` says."""

    behaviour: Behaviour
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def endpoint(self) -> LaneEndpoint:
        return LaneEndpoint(f"http://127.0.0.1:{self.port}", KEY)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next((int(v) for v in Received(head, b"").header("content-length")), 0)
                received = Received(head, await reader.readexactly(length) if length else b"")
                self.received.append(received)
                await self.behaviour(received, writer)
                if writer.is_closing():
                    return
        finally:
            writer.close()


@asynccontextmanager
async def raw_lane(behaviour: Behaviour) -> AsyncIterator[RawLane]:
    lane = RawLane(behaviour)
    server = await asyncio.start_server(lane.serve, "127.0.0.1", 0)
    lane.port = server.sockets[0].getsockname()[1]
    try:
        yield lane
    finally:
        server.close()


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Behaviour:
    async def respond(_: Received, writer: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()

    return respond


async def drop(_: Received, writer: asyncio.StreamWriter) -> None:
    """Read the whole request, then close the connection without a word."""
    writer.close()


async def cut_off(_: Received, writer: asyncio.StreamWriter) -> None:
    """Promise 100 bytes, send 10, close."""
    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"id\": \"x\"")
    await writer.drain()
    writer.close()


def silent(forever: asyncio.Event) -> Behaviour:
    async def wait(_: Received, __: asyncio.StreamWriter) -> None:
        await forever.wait()

    return wait


async def no_wait(_: float) -> None:
    return None


def client(**options: float) -> LaneClient:
    return LaneClient(LaneClientOptions(**options), sleep=no_wait)  # type: ignore[arg-type]


TIMEOUTS = Timeouts(connect=5.0, read=5.0, pool=5.0)


async def send(sender: AiohttpSender, method: str, url: str, body: bytes | None = None,
               timeouts: Timeouts = TIMEOUTS) -> LaneAnswer:
    return await sender.send(LaneRequest(method, url, {}, body, False, timeouts))


async def test_a_start_dropped_after_it_reached_the_lane_is_not_sent_again() -> None:
    async with raw_lane(drop) as lane:
        async with client() as lanes:
            with pytest.raises(LaneUnreachable) as caught:
                await lanes.start_orchestration(lane.endpoint, "process_order", None, b"{}")
    assert len(lane.received) == 1  # the lane may have scheduled it: a second start would be a second instance
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert not isinstance(caught.value.__cause__, NOT_SENT)


async def test_a_dropped_connection_is_sent_but_unanswered_not_never_sent() -> None:
    async with raw_lane(drop) as lane:
        transport = AiohttpSender()
        with pytest.raises(httpx.TransportError) as caught:
            await send(transport, "POST", f"{lane.endpoint.base_url}/x", b"{}")
        await transport.aclose()
    assert isinstance(caught.value, httpx.RemoteProtocolError)
    assert not isinstance(caught.value, NOT_SENT)


async def test_a_status_read_dropped_by_the_lane_is_read_again() -> None:
    async with raw_lane(drop) as lane:
        async with client(attempts=3) as lanes:
            with pytest.raises(LaneUnreachable, match="after 3 attempts"):
                await lanes.proxy(lane.endpoint, "GET", "abc", "status")
    assert len(lane.received) == 3  # a read may be repeated


async def test_a_refused_connection_is_never_sent_so_even_a_start_is_tried_again() -> None:
    endpoint = LaneEndpoint(f"http://127.0.0.1:{free_port()}", KEY)  # nothing listens there
    async with client(attempts=3) as lanes:
        with pytest.raises(LaneUnreachable, match="after 3 attempts") as caught:
            await lanes.start_orchestration(endpoint, "process_order", None, b"{}")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_an_answer_cut_off_mid_body_is_unanswered_and_a_start_is_not_sent_again() -> None:
    async with raw_lane(cut_off) as lane:
        async with client() as lanes:
            with pytest.raises(LaneUnreachable) as caught:
                await lanes.start_orchestration(lane.endpoint, "process_order", None, b"{}")
    assert len(lane.received) == 1
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


async def test_a_lane_that_does_not_answer_in_time_is_a_timeout_and_a_start_is_not_sent_again() -> None:
    forever = asyncio.Event()
    async with raw_lane(silent(forever)) as lane:
        async with client(read_timeout=0.2) as lanes:
            with pytest.raises(LaneTimeout) as caught:
                await lanes.start_orchestration(lane.endpoint, "process_order", None, b"{}")
        forever.set()
    assert len(lane.received) == 1
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_waiting_for_a_free_pooled_connection_in_vain_is_never_sent() -> None:
    forever = asyncio.Event()
    async with raw_lane(silent(forever)) as lane:
        transport = AiohttpSender(max_connections=1)
        timeouts = Timeouts(connect=0.1, read=5.0, pool=0.1)
        holder = asyncio.create_task(send(transport, "GET", f"{lane.endpoint.base_url}/first"))
        while not lane.received:
            await asyncio.sleep(0.01)
        with pytest.raises(httpx.TransportError) as caught:
            await send(transport, "POST", f"{lane.endpoint.base_url}/second", b"{}", timeouts)
        forever.set()
        holder.cancel()
        await transport.aclose()
    assert isinstance(caught.value, NOT_SENT)
    assert [r.request_line.split()[1] for r in lane.received] == ["/first"]


async def test_redirects_are_answered_not_followed() -> None:
    async with raw_lane(answer(302, headers={"Location": "http://elsewhere.example/steal"})) as lane:
        transport = AiohttpSender()
        response = await send(transport, "GET", f"{lane.endpoint.base_url}/x")
        await transport.aclose()
    assert response.status_code == 302
    assert len(lane.received) == 1


async def test_a_compressed_answer_is_decoded_once() -> None:
    document = {"runtimeStatus": "Running", "instanceId": "abc"}
    body = gzip.compress(json.dumps(document).encode())
    behaviour = answer(202, body, {"Content-Encoding": "gzip", "Content-Type": "application/json"})
    async with raw_lane(behaviour) as lane:
        async with client() as lanes:
            proxied = await lanes.proxy(lane.endpoint, "GET", "abc", "status")
    assert json.loads(proxied.body) == document
    assert "content-encoding" not in {name.lower() for name in proxied.headers}


async def test_the_request_goes_out_as_httpx_built_it() -> None:
    async with raw_lane(answer(404, b'{"message": "no"}')) as lane:
        async with client() as lanes:
            with pytest.raises(Exception):
                await lanes.proxy(lane.endpoint, "GET", ".", "status", query={"showInput": "false"})
    sent = lane.received[0]
    # A dot id stays one encoded segment: no normaliser turned it into the list of all instances.
    assert sent.request_line == "GET /runtime/webhooks/durabletask/instances/%2E?showInput=false HTTP/1.1"
    assert sent.header("x-functions-key") == [KEY]
    assert len(sent.header("host")) == 1
    assert len(sent.header("user-agent")) == 1


async def test_a_cookie_a_lane_sets_is_not_sent_back() -> None:
    async with raw_lane(answer(200, b"[]", {"Set-Cookie": "ARRAffinity=lane-0; Path=/"})) as lane:
        async with client() as lanes:
            await lanes.list_instances(lane.endpoint)
            await lanes.list_instances(lane.endpoint)
    assert [r.header("cookie") for r in lane.received] == [[], []]


async def test_connections_are_reused_and_the_pool_reopens_after_close() -> None:
    async with raw_lane(answer(200, b"[]", {"Content-Type": "application/json"})) as lane:
        transport = AiohttpSender()
        for _ in range(3):
            await send(transport, "GET", f"{lane.endpoint.base_url}/x")
        await transport.aclose()
        response = await send(transport, "GET", f"{lane.endpoint.base_url}/x")
        await transport.aclose()
    assert response.status_code == 200
    assert len(lane.received) == 4


async def test_an_address_that_is_not_http_is_refused_before_any_io() -> None:
    async with client() as lanes:
        with pytest.raises(LaneUnreachable, match="not a usable http") as caught:
            await lanes.start_orchestration(LaneEndpoint("ftp://lane.example", KEY), "process_order", None, b"{}")
    assert isinstance(caught.value.__cause__, httpx.UnsupportedProtocol)
