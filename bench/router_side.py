"""What the router adds to a start: starts through the router vs straight to the lane's API.

The router runs in the dev host with one local lane (sample 1.0.0). The same number of
`process_order` starts is sent, with the same concurrency, to the router's
`POST /api/orchestrators/{name}` (version header, cached map, key cache, forwarding) and to the
lane's own Durable HTTP API; rounds alternate between the two so both see the same load.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from demo.stack import running_router
from samples.build import build_package


@dataclass(frozen=True)
class StartFigures:
    path: str
    starts: int
    concurrency: int
    starts_per_second: float
    p50_ms: float
    p95_ms: float


async def _fire(url: str, headers: dict[str, str], starts: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:

        async def one(n: int) -> None:
            async with gate:
                began = time.perf_counter()
                response = await http.post(url, json={"order_id": f"bench-{n}", "wait_seconds": 0}, headers=headers)
                latencies.append(time.perf_counter() - began)
                if response.status_code != 202:
                    raise RuntimeError(f"start answered {response.status_code}: {response.text[:200]}")

        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(starts)))
        return time.perf_counter() - began, latencies


def _figures(path: str, starts: int, concurrency: int, rounds: list[tuple[float, list[float]]]) -> StartFigures:
    seconds = statistics.median(r[0] for r in rounds)
    latencies = sorted(x for r in rounds for x in r[1])
    return StartFigures(
        path=path,
        starts=starts,
        concurrency=concurrency,
        starts_per_second=round(starts / seconds, 1),
        p50_ms=round(1000 * latencies[len(latencies) // 2], 1),
        p95_ms=round(1000 * latencies[int(len(latencies) * 0.95)], 1),
    )


def run(starts: int = 300, concurrency: int = 16, rounds: int = 3) -> list[StartFigures]:
    with tempfile.TemporaryDirectory(prefix="bench-router-") as work, running_router(work_dir=Path(work)) as router:
        response = router.post_release("1.0.0", str(build_package("1.0.0", Path(work))))
        if router.wait_release(response.json()["id"])["state"] != "completed":
            raise RuntimeError("the bench's lane did not come up")
        lane = router.version_map()["lanes"]["1.0"]
        secrets = router.lanes_root / "lanes" / "lane-1-0" / "secrets.json"  # type: ignore[attr-defined]
        lane_key = json.loads(secrets.read_text())["durableTaskKey"]
        through_router = (f"{router.base_url}/api/orchestrators/process_order",
                          {"x-functions-key": router.function_key, "X-App-Version": "1.0.0"})
        straight = (f"{lane['app_url']}/runtime/webhooks/durabletask/orchestrators/process_order",
                    {"x-functions-key": lane_key})
        samples: dict[str, list[tuple[float, list[float]]]] = {"router": [], "lane": []}
        for _ in range(rounds):
            samples["lane"].append(asyncio.run(_fire(*straight, starts, concurrency)))
            samples["router"].append(asyncio.run(_fire(*through_router, starts, concurrency)))
        return [
            _figures("lane Durable HTTP API (direct)", starts, concurrency, samples["lane"]),
            _figures("router -> lane (forwarded)", starts, concurrency, samples["router"]),
        ]


def table(rows: list[StartFigures]) -> str:
    lines = [f"{'start path':<34}{'starts':>8}{'conc':>6}{'starts/s':>10}{'p50 ms':>9}{'p95 ms':>9}", "-" * 76]
    for row in rows:
        lines.append(f"{row.path:<34}{row.starts:>8}{row.concurrency:>6}{row.starts_per_second:>10}"
                     f"{row.p50_ms:>9}{row.p95_ms:>9}")
    return "\n".join(lines)
