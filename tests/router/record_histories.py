"""Record the router's orchestrations at each phase, for the replay test (tests/router/histories).

    .venv/bin/python -m tests.router.record_histories

Runs the router in-process (router_harness) through each phase and writes the history of the
orchestration as it stands there. Run it at each router release, after the replay test passed
against the previous recordings, and commit the new files beside the old ones (see
docs/architecture.md, "Upgrading the router itself").
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable

from devhost.engine.engine import DATABASE_FILE
from provisioning.errors import AppNameTaken, TransientProvisioningError
from tests.router.router_harness import Router, running_router

HISTORIES = Path(__file__).resolve().parent / "histories"
LABEL = sys.argv[1] if len(sys.argv) > 1 else "current"


def history_of(router: Router, instance_id: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(router.host.config.data_dir / DATABASE_FILE)
    try:
        rows = db.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,))
        return [json.loads(text) for (text,) in rows]
    finally:
        db.close()


async def record(router: Router, orchestrator: str, phase: str, instance_id: str,
                 ready: Callable[[dict[str, Any]], bool]) -> None:
    """Wait until the instance's status satisfies `ready`, then write its history."""
    async def probe() -> dict[str, Any] | None:
        response = await router.http.get(f"/runtime/webhooks/durabletask/instances/{instance_id}")
        status = response.json() if response.content else {}
        return status if status and ready(status) else None

    await router.wait_for(f"{orchestrator} {phase}", probe)
    await asyncio.sleep(0.3)  # let the episode that got it there commit its last events
    history = history_of(router, instance_id)
    started = next(e for e in history if e["EventType"] == 0)
    path = HISTORIES / f"{orchestrator}--{phase}--{LABEL}.json"
    path.write_text(json.dumps({"orchestrator": orchestrator, "phase": phase, "instanceId": instance_id,
                                "input": started.get("Input"), "history": history}, indent=1) + "\n")
    print(f"recorded {path.name}: {len(history)} events")


def steps(status: dict[str, Any]) -> list[str]:
    return [s["step"] for s in (status.get("customStatus") or {}).get("steps", [])]


def phase(status: dict[str, Any]) -> str:
    return str((status.get("customStatus") or {}).get("phase"))


async def lifecycle_phases(router: Router) -> None:
    router.backend.healthy = False
    release_id = await router.release("1.0.0")
    await record(router, "release", "handed_to_lane", release_id, lambda s: s["runtimeStatus"] == "Completed")
    await record(router, "lane_lifecycle", "provisioning", "lane-lifecycle-1.0",
                 lambda s: "key_read" in steps(s))
    router.backend.healthy = True
    await record(router, "lane_lifecycle", "watching", "lane-lifecycle-1.0",
                 lambda s: phase(s) == "watch" and "activated" in steps(s))
    fake = router.backend.lane("1.0")
    fake.down, fake.restarts_to_recover = True, 2
    await record(router, "lane_lifecycle", "unhealthy", "lane-lifecycle-1.0",
                 lambda s: steps(s).count("probe_failed") >= 2)
    await router.wait_for("the lane to recover", lambda: _recovered(router, "1.0"))
    await router.release("1.0.1")
    await record(router, "lane_lifecycle", "patched", "lane-lifecycle-1.0", lambda s: "patched" in steps(s))
    assert (await router.start("1.0.1")).status_code == 202
    await router.release("1.1.0")
    await router.wait_for_lane("1.1", "active")
    await router.wait_for("a drain check", lambda: _checked(router, "1.0"))
    await record(router, "lane_lifecycle", "draining", "lane-lifecycle-1.0", lambda s: phase(s) == "watch")
    fake = router.backend.lane("1.0")
    fake.late_starts = [fake.queries + 3]
    fake.finish_all()
    await record(router, "lane_lifecycle", "retiring", "lane-lifecycle-1.0", lambda s: "waiting" in steps(s))
    router.backend.fail["delete_app"] = [TransientProvisioningError("ARM 500")] * 100
    fake.finish_all()
    await record(router, "lane_lifecycle", "delete_failed", "lane-lifecycle-1.0",
                 lambda s: "delete_failed" in steps(s))
    router.backend.fail["delete_app"].clear()
    await router.http.post("/api/lanes/1.0/retire")
    await record(router, "lane_lifecycle", "deleted", "lane-lifecycle-1.0", lambda s: s["runtimeStatus"] == "Completed")
    command_id = await _last_map_command(router)
    await record(router, "map_command", "completed", command_id, lambda s: s["runtimeStatus"] == "Completed")


async def _recovered(router: Router, key: str) -> bool:
    lane = await router.lane(key)
    return bool(lane and lane["unhealthy"] is None and any(e["event"] == "recovered" for e in lane["history"]))


async def _checked(router: Router, key: str) -> bool:
    lane = await router.lane(key)
    return bool(lane and lane["drain"]["checked_at"])


async def _last_map_command(router: Router) -> str:
    response = await router.http.get("/runtime/webhooks/durabletask/instances")
    commands = [i for i in response.json() if i["name"] == "map_command"]
    return str(commands[-1]["instanceId"])


async def failed_and_held(router: Router) -> None:
    router.backend.fail["create_app"] = [AppNameTaken("taken")]
    await router.release("2.0.0")
    await record(router, "lane_lifecycle", "failed", "lane-lifecycle-2.0", lambda s: phase(s) == "failed")
    router.backend.healthy = False
    await router.release("3.0.0", provision="lazy")
    held = (await router.start("3.0.0")).json()["id"]
    await record(router, "held_request", "held", held,
                 lambda s: "hold_request" in json.dumps(history_of(router, held)))
    router.backend.healthy = True
    await record(router, "held_request", "forwarded", held, lambda s: s["runtimeStatus"] == "Completed")


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    scenarios: list[Callable[[Router], Awaitable[None]]] = [lifecycle_phases, failed_and_held]
    for scenario in scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_router(Path(tmp), lane_ready_timeout_seconds=120) as router:
                await scenario(router)


if __name__ == "__main__":
    asyncio.run(main())
