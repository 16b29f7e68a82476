"""`python -m bench.client_cost`: the CPU one lane call costs the caller, per HTTP client.

The same calls (a start: POST with a small JSON body, 202 JSON answer) to a local aiohttp
server in another process, at 1, 16 and 64 connections: httpx with its default transport
(httpcore), httpx over an aiohttp transport (the httpx-aiohttp package, when installed), plain
aiohttp, and the router's whole `LaneClient.start_orchestration` (retries, error mapping, its own
request and answer types over aiohttp). CPU is this process's own
(`time.process_time`), so the server's share is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from devhost.ports import free_port
from router.lane_client import LaneClient, LaneClientOptions, LaneEndpoint

ANSWER = json.dumps({"id": "abc", "statusQueryGetUri": "http://127.0.0.1/x"}).encode()
BODY = json.dumps({"order_id": "bench", "wait_seconds": 0}).encode()
PATH = "/runtime/webhooks/durabletask/orchestrators/process_order"


def _serve(port: int) -> None:
    async def start(_: web.Request) -> web.Response:
        return web.Response(status=202, body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, start)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


Call = Callable[[], Awaitable[Any]]


async def _measure(call: Call, requests: int, concurrency: int) -> float:
    """Microseconds of this process's CPU per call."""
    for _ in range(min(requests, 50)):  # warm: connections, caches
        await call()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await call()

    began = time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    return (time.process_time() - began) * 1e6 / requests


async def _clients(base: str, concurrency: int, requests: int) -> dict[str, float]:
    url = base + PATH
    headers = {"x-functions-key": "k", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency)
    figures: dict[str, float] = {}
    async with httpx.AsyncClient(limits=limits, trust_env=False) as http:
        figures["httpxDefaultTransport"] = await _measure(lambda: http.post(url, content=BODY, headers=headers),
                                                          requests, concurrency)
    try:
        from httpx_aiohttp import AiohttpTransport  # not a requirement: measured when present
    except ImportError:
        pass
    else:
        async with httpx.AsyncClient(transport=AiohttpTransport(), trust_env=False) as http:
            figures["httpxOverAiohttpTransport"] = await _measure(
                lambda: http.post(url, content=BODY, headers=headers), requests, concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def plain() -> bytes:
            async with session.post(url, data=BODY, headers=headers) as answer:
                return await answer.read()
        figures["plainAiohttp"] = await _measure(plain, requests, concurrency)
    async with LaneClient(LaneClientOptions(max_connections=concurrency)) as lanes:
        lane = LaneEndpoint(base, "k")
        figures["routerLaneClient"] = await _measure(
            lambda: lanes.start_orchestration(lane, "process_order", None, BODY), requests, concurrency)
    return {name: round(value, 1) for name, value in figures.items()}


def run(requests: int = 3000, concurrencies: tuple[int, ...] = (1, 16, 64)) -> dict[str, Any]:
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.post(base + PATH, content=BODY, trust_env=False)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the client-cost server did not start") from None
                time.sleep(0.05)
        return {f"concurrency{c}": asyncio.run(_clients(base, c, requests)) for c in concurrencies}
    finally:
        server.terminate()
        server.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    result = run(args.requests)
    print(json.dumps({"bench": "lane-client-cpu-microseconds-per-call", "results": result}, indent=2))


if __name__ == "__main__":
    main()
