"""Record the router's orchestrations at each phase, for the replay test (tests/router/histories).

    .venv/bin/python -m tests.router.record_histories LABEL [SCENARIO ...]

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

from devhost.engine.engine import DATABASE_FILE
from provisioning.errors import AppNameTaken, TransientProvisioningError
from router import runtime
from router.continuation import router_signer
from router.patch_gate import PatchGate, issue_ticket
from tests.router.router_harness import Router, running_router, url_of

HISTORIES = Path(__file__).resolve().parent / "histories"
LABEL = sys.argv[1] if len(sys.argv) > 1 else "current"
ONLY = set(sys.argv[2:])  # scenario names (function names below); none: all of them


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


async def record_generation(router: Router, orchestrator: str, phase: str, instance_id: str, marker: str) -> None:
    """Write the generation of a looping orchestration that scheduled the activity `marker`, as
    far as it got before it continued as new (the polls keep the last history holding it)."""
    def holding() -> list[dict[str, Any]] | None:
        history = history_of(router, instance_id)
        return history if any(e["EventType"] == 4 and e.get("Name") == marker for e in history) else None

    # Polled tightly: a generation of the lifecycle lasts a few episodes, tens of milliseconds.
    deadline = asyncio.get_running_loop().time() + 30
    last = holding()
    while last is None:
        assert asyncio.get_running_loop().time() < deadline, f"{orchestrator} never scheduled {marker}"
        await asyncio.sleep(0.002)
        last = holding()
    for _ in range(3000):  # until the generation ends (continue_as_new starts a history without it)
        await asyncio.sleep(0.002)
        history = holding()
        if history is None:
            break
        last = history
    started = next(e for e in last if e["EventType"] == 0)
    path = HISTORIES / f"{orchestrator}--{phase}--{LABEL}.json"
    path.write_text(json.dumps({"orchestrator": orchestrator, "phase": phase, "instanceId": instance_id,
                                "input": started.get("Input"), "history": last}, indent=1) + "\n")
    print(f"recorded {path.name}: {len(last)} events")


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


async def _ramp_id(router: Router, lane: str) -> str | None:
    response = await router.http.get("/runtime/webhooks/durabletask/instances")
    ramps = [i["instanceId"] for i in response.json()
             if i["name"] == "ramp" and i["instanceId"].startswith(f"ramp-{lane}-")]
    return ramps[-1] if ramps else None


async def _ramped_release(router: Router, version: str, ramp: dict[str, Any]) -> None:
    response = await router.http.post("/api/releases", json={
        "version": version, "packageUrl": f"/packages/{version}.zip", "ramp": ramp})
    assert response.status_code == 202, response.text


async def _ramp_started(router: Router, lane: str) -> str:
    """The id of the ramp orchestration onto `lane` that its activation started."""
    return str(await router.wait_for(f"the ramp onto {lane}", lambda: _ramp_id(router, lane)))


def _ramp_step(status: dict[str, Any]) -> int:
    return int((status.get("customStatus") or {}).get("step") or 0)


async def ramp_phases(router: Router) -> None:
    """A release's ramp in flight (waiting on its step's timer), completed and aborted; the lane
    lifecycle that started it; an admin's ramp through a map command."""
    await router.release("1.0.0")
    await router.wait_for_lane("1.0", "active")
    await _ramped_release(router, "1.1.0", {"steps": [50, 100], "stepSeconds": 2, "maxFailedRatio": 0.5})
    await record_generation(router, "lane_lifecycle", "ramped", "lane-lifecycle-1.1", "start_ramp")
    ramp_id = await _ramp_started(router, "1.1")
    await record(router, "ramp", "stepping", ramp_id,
                 lambda s: s["runtimeStatus"] == "Running" and _ramp_step(s) == 2)
    await record(router, "ramp", "completed", ramp_id,
                 lambda s: s["runtimeStatus"] == "Completed" and (s.get("output") or {}).get("state") == "completed")

    await _ramped_release(router, "1.2.0", {"steps": [10, 100], "stepSeconds": 1, "maxFailedRatio": 0.2})
    ramp_id = await _ramp_started(router, "1.2")
    lane = router.lanes.by_url[url_of("1.2")]
    for n in range(2):
        assert (await router.start("1.2.0", instance_id=f"failing-{n}")).status_code == 202
        lane.instances[f"failing-{n}"]["runtimeStatus"] = "Failed"
    await record(router, "ramp", "aborted", ramp_id,
                 lambda s: s["runtimeStatus"] == "Completed" and (s.get("output") or {}).get("state") == "aborted")

    started = await router.http.post("/api/current", json={
        "lane": "1.2", "ramp": {"steps": [50, 100], "stepSeconds": 600, "maxFailedRatio": 0.1}})
    assert started.status_code == 202, started.text
    command_id = await _last_map_command(router)
    await record(router, "map_command", "ramp_started", command_id, lambda s: s["runtimeStatus"] == "Completed")
    assert (await router.http.post("/api/current", json={"lane": "1.1"})).status_code == 200  # ends it


async def _patch(router: Router, replay_check: dict[str, Any] | None) -> None:
    await router.release("1.0.0")
    await router.wait_for_lane("1.0", "active")
    body: dict[str, Any] = {"version": "1.0.1", "packageUrl": "/packages/1.0.1.zip", "sha256": "ab" * 32}
    if replay_check is not None:
        body["replayCheck"] = replay_check
    assert (await router.http.post("/api/releases", json=body)).status_code == 202


async def patch_gate_warned(router: Router) -> None:
    """The local lifecycle's own replay check under warn: it could not run (the fake backend's
    package is no file), a warning step, then the patch deploys."""
    await _patch(router, None)
    await record_generation(router, "lane_lifecycle", "patch_warned", "lane-lifecycle-1.0", "check_patch_replay")


async def patch_gate_refused(router: Router) -> None:
    """Under require, the lifecycle's replay check that cannot pass fails the patch."""
    # A ticket of this router's own, issued now: intake takes the check, the lifecycle's replay refuses.
    ticket = issue_ticket(router_signer(runtime.current().settings), "1.0", datetime.now(UTC))
    await _patch(router, {"sha256": "ab" * 32, "instancesChecked": 1, "checkedAt": "2026-12-01T16:00:00+00:00",
                          "passed": True, "lane": "1.0", "ticket": ticket})
    await record_generation(router, "lane_lifecycle", "patch_refused", "lane-lifecycle-1.0", "check_patch_replay")


SCENARIOS: list[tuple[Callable[[Router], Awaitable[None]], dict[str, Any]]] = [
    (lifecycle_phases, {}),
    (failed_and_held, {}),
    (ramp_phases, {}),
    (patch_gate_warned, {"patch_gate": PatchGate.WARN}),
    (patch_gate_refused, {"patch_gate": PatchGate.REQUIRE}),
]


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    for scenario, settings in SCENARIOS:
        if ONLY and scenario.__name__ not in ONLY:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            async with running_router(Path(tmp), lane_ready_timeout_seconds=120, **settings) as router:
                await scenario(router)


if __name__ == "__main__":
    asyncio.run(main())
