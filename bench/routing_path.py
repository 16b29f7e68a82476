"""The other figures of the routing path, on a stack of their own with access logs on.

- entity reads per 1,000 starts forwarded in steady state (the router's reads of the version-map
  entity, from its access log: each is a GET of the entity on its own Durable API);
- lane API calls per drain poll of a draining lane (from the lane's access log);
- the time from a lane becoming active to the forwarding of every request held for it (the
  release's `activated` step and each held request's last update, both from the router);
- the router's resident memory with 1 lane in the map, and with 50.

The access logs cost CPU, so none of the throughput figures comes from this stack.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.proc import resident_kib
from bench.stack import Stack, running_stack
from demo.router_client import wait_for
from devhost.durable_urls import WEBHOOK_PATH
from devhost.server import LOG_LEVEL_SETTING
from samples.build import build_package

STEADY_STARTS = 1000
MAP_CACHE_SECONDS = "5"  # the production default (ROUTER_MAP_CACHE_SECONDS), not the demo's 1 s
DRAIN_POLL_SECONDS = 1  # the demo stack's ROUTER_DRAIN_POLL_SECONDS
DRAIN_WINDOW_POLLS = 6
HELD_STARTS = 20
MANY_LANES = 50

# The dev host's access-log line for a call of its Durable HTTP API (devhost.server.DevHost._durable).
_ENTITY_READ = re.compile(r"Durable API GET (?:rpc )?/?entities/version_map/", re.IGNORECASE)
_LANE_API_CALL = re.compile(r"Durable API (GET|POST|DELETE|PUT) (?!rpc )/?([A-Za-z]+)")


def _starts(stack: Stack, count: int, version: str, concurrency: int = 16) -> list[httpx.Response]:
    async def fire() -> list[httpx.Response]:
        gate = asyncio.Semaphore(concurrency)
        headers = {**stack.router_headers(), stack.router.version_header: version}
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            async def one(n: int) -> httpx.Response:
                async with gate:
                    return await http.post(stack.router_start_url, headers=headers,
                                           json={"order_id": f"path-{n}", "wait_seconds": 3600})
            return await asyncio.gather(*(one(n) for n in range(count)))
    return asyncio.run(fire())


def _router_log(stack: Stack) -> str:
    return stack.router.host.output()  # type: ignore[attr-defined]


def entity_reads(stack: Stack) -> dict[str, float]:
    _starts(stack, 50, "1.0.0")  # warm: pools, key cache, the map in the cache
    before = len(_ENTITY_READ.findall(_router_log(stack)))
    began = time.monotonic()
    answers = _starts(stack, STEADY_STARTS, "1.0.0")
    seconds = time.monotonic() - began
    reads = len(_ENTITY_READ.findall(_router_log(stack))) - before
    return {
        "forwardedStarts": sum(1 for a in answers if a.status_code == 202),
        "seconds": round(seconds, 2),
        "mapCacheSeconds": float(MAP_CACHE_SECONDS),
        "entityReads": reads,
        "entityReadsPer1000Starts": round(reads * 1000 / STEADY_STARTS, 2),
    }


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def held_wake(stack: Stack, work: Path) -> dict[str, float]:
    """Release 1.1.0 and send starts for it while its lane is provisioning: they are held."""
    response = stack.router.post_release("1.1.0", str(build_package("1.1.0", work)))
    response.raise_for_status()
    release_id = response.json()["id"]
    answers = _starts(stack, HELD_STARTS, "1.1.0", concurrency=4)
    held = [a.json()["id"] for a in answers if a.status_code == 202 and a.json().get("held")]
    release = stack.router.wait_release(release_id)
    activated = next((s["at"] for s in release.get("steps", []) if s.get("step") == "activated"), None)
    if release.get("state") != "completed" or activated is None:
        raise RuntimeError(f"release 1.1.0 did not complete: {release}")
    host = stack.router.host  # type: ignore[attr-defined]
    forwarded: list[datetime] = []
    with httpx.Client(base_url=stack.router.base_url, trust_env=False, timeout=30,
                      headers={"x-functions-key": host.system_key}) as http:
        for held_id in held:
            def done(held_id: str = held_id) -> dict[str, Any] | None:
                status = http.get(f"{WEBHOOK_PATH}/instances/{held_id}").json()
                return status if status.get("runtimeStatus") in ("Completed", "Failed") else None
            status = wait_for(done, 120, f"held request {held_id} to be forwarded")
            if (status.get("output") or {}).get("state") != "forwarded":
                raise RuntimeError(f"held request {held_id} was not forwarded: {status}")
            forwarded.append(_parse_time(status["lastUpdatedTime"]))
    lags = [(at - _parse_time(activated)).total_seconds() for at in forwarded]
    return {
        "heldRequests": len(held),
        "startsSentWhileProvisioning": HELD_STARTS,
        # The lifecycle wakes held requests as it marks the lane active and records the step
        # after: a forward may carry an earlier time than the `activated` step (a lag below 0).
        "firstHeldForwardedSecondsAfterLaneActive": round(min(lags), 3) if lags else -1.0,
        "lastHeldForwardedSecondsAfterLaneActive": round(max(lags), 3) if lags else -1.0,
        "medianHeldForwardedSecondsAfterLaneActive": round(sorted(lags)[len(lags) // 2], 3) if lags else -1.0,
    }


def drain_calls(stack: Stack, lanes_root: Path) -> dict[str, float]:
    """Lane 1.0, with the starts above still running (they wait an hour), drains behind 1.1."""
    wait_for(lambda: stack.router.lane_state("1.0") == "draining" or None, 60, "lane 1.0 to drain")
    log = lanes_root / "lanes" / "lane-1-0" / "host.log"
    time.sleep(DRAIN_POLL_SECONDS * 2)  # past the switch
    before = len(_LANE_API_CALL.findall(log.read_text(errors="replace")))
    time.sleep(DRAIN_POLL_SECONDS * DRAIN_WINDOW_POLLS)
    window = _LANE_API_CALL.findall(log.read_text(errors="replace"))[before:]
    calls = len(window)
    still = stack.router.lane_state("1.0")
    kinds: dict[str, int] = {}
    for method, resource in window:
        kinds[f"{method} {resource}"] = kinds.get(f"{method} {resource}", 0) + 1
    return {
        "inFlightOnLane": float(STEADY_STARTS + 50),
        **{f"calls {kind}": float(n) for kind, n in sorted(kinds.items())},
        "drainPollSeconds": float(DRAIN_POLL_SECONDS),
        "windowSeconds": float(DRAIN_POLL_SECONDS * DRAIN_WINDOW_POLLS),
        "laneApiCalls": calls,
        "laneApiCallsPerPollInterval": round(calls / DRAIN_WINDOW_POLLS, 2),
        "laneStillDraining": 1.0 if still == "draining" else 0.0,
    }


def memory_with_many_lanes(stack: Stack, work: Path) -> dict[str, float]:
    """Lazy releases (no app until their first request) fill the map up to 50 lanes."""
    package = str(build_package("1.0.0", work))
    have = len(stack.router.version_map()["lanes"])
    major = 2
    while have + (major - 2) < MANY_LANES:
        stack.router.post_release(f"{major}.0.0", package, provision="lazy").raise_for_status()
        major += 1
    wait_for(lambda: len(stack.router.version_map()["lanes"]) >= MANY_LANES or None, 180, f"{MANY_LANES} lanes in the map")
    _starts(stack, 20, "1.1.0")  # forward a few on the full map, so it is read and cached
    time.sleep(float(MAP_CACHE_SECONDS) + 1)
    return {"lanesInMap": len(stack.router.version_map()["lanes"]),
            "routerResidentMiB": round(resident_kib(stack.router_pid) / 1024, 1)}


def run(progress: Any = print) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    settings = {LOG_LEVEL_SETTING: "Debug", "ROUTER_MAP_CACHE_SECONDS": MAP_CACHE_SECONDS}
    with running_stack(settings) as stack:
        lanes_root: Path = stack.router.lanes_root  # type: ignore[attr-defined]
        steps = [
            ("entityReads", lambda: entity_reads(stack)),
            ("routerMemoryOneLane", lambda: {"lanesInMap": len(stack.router.version_map()["lanes"]),
                                             "routerResidentMiB": round(resident_kib(stack.router_pid) / 1024, 1)}),
            ("heldRequestWake", lambda: held_wake(stack, stack.work_dir)),
            ("drainingLaneCalls", lambda: drain_calls(stack, lanes_root)),
            ("routerMemoryManyLanes", lambda: memory_with_many_lanes(stack, stack.work_dir)),
        ]
        for name, step in steps:
            progress(f"  routing path: {name} ...")
            try:
                figures[name] = step()
            except Exception as exc:  # one figure that cannot be had does not cost the others
                figures[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            progress(f"    {figures[name]}")
    return figures


if __name__ == "__main__":
    run()
