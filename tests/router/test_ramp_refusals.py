"""Ramps the router must refuse while the map is in states the hostile-input corpus's module router
never reaches (tests/router/test_hostile_inputs.py holds the shapes): a second ramp while one runs,
a ramp onto a failed lane, and a release with a ramp that would be a patch. Each is a clear 4xx
that changes nothing: not the map, not the router's orchestrations, not a lane, not the backend."""

from __future__ import annotations

import asyncio
from typing import Any

from provisioning.errors import AppNameTaken
from tests.router.router_harness import Router, state_snapshot, with_router

QUIET = dict(lane_probe_seconds=3600.0, drain_poll_seconds=3600)  # nothing writes to the map between snapshots


def plan(*steps: int, seconds: int = 600) -> dict[str, Any]:
    return {"steps": list(steps), "stepSeconds": seconds, "maxFailedRatio": 0.1}


async def refused(router: Router, path: str, body: dict[str, Any], status: int, error: str) -> dict[str, Any]:
    before = await state_snapshot(router)
    response = await router.http.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.json()
    assert await state_snapshot(router) == before, f"{body} changed the router's or a lane's state"
    return dict(response.json())


async def ramping(router: Router) -> None:
    """1.0 current again after 1.1 was released, and an admin's ramp onto 1.1 running (its step: 10 min)."""
    for version in ("1.0.0", "1.1.0"):
        await router.release(version)
        await router.wait_for_lane(version[:3], "active")
    assert (await router.http.post("/api/current", json={"lane": "1.0"})).status_code == 200
    started = await router.http.post("/api/current", json={"lane": "1.1", "ramp": plan(50, 100)})
    assert started.status_code == 202, started.text
    await settled(router)  # the ramp's driver is on its timer, the command ended


async def settled(router: Router) -> None:
    """Wait until nothing moves: a lane reported active may still have its release orchestration
    and lifecycle writing for a moment, which a before/after snapshot would take for the refusal's."""
    async def quiet() -> bool:
        first = await state_snapshot(router)
        await asyncio.sleep(0.3)  # longer than an orchestration's step between two writes here
        return first == await state_snapshot(router) and bool(first["router_instances"])

    await router.wait_for("the router to settle", quiet)


@with_router(**QUIET)
async def test_a_second_ramp_while_one_runs_is_a_409_naming_the_running_one(router):
    await ramping(router)
    other = await refused(router, "/api/current", {"lane": "1.1", "ramp": plan(25, 100)}, 409, "illegal_transition")
    assert other["rampLane"] == "1.1" and "is running" in other["message"]
    onto_current = await refused(router, "/api/current", {"lane": "1.0", "ramp": plan(50, 100)}, 409,
                                 "illegal_transition")
    assert onto_current["rampLane"] == "1.1"
    same = await router.http.post("/api/current", json={"lane": "1.1", "ramp": plan(50, 100)})
    assert same.status_code == 202, "the same ramp asked for again is a no-op, not a refusal"
    assert (await router.version_map())["ramp"]["state"] == "running"


@with_router(**QUIET)
async def test_a_ramp_onto_a_failed_lane_is_a_409(router):
    await router.release("1.0.0")
    await router.wait_for_lane("1.0", "active")
    router.backend.fail["create_app"] = [AppNameTaken("taken")]
    await router.release("1.1.0")
    await router.wait_for_lane("1.1", "failed")
    await settled(router)
    answer = await refused(router, "/api/current", {"lane": "1.1", "ramp": plan(50, 100)}, 409, "illegal_transition")
    assert "1.1" in answer["message"]


@with_router(**QUIET)
async def test_a_release_with_a_ramp_that_is_a_patch_is_refused_and_without_the_ramp_is_taken(router):
    """A patch replaces the lane's code for all its traffic at once: a ramp on it would promise a
    canary that cannot happen, so intake refuses it (docs/reliability.md, README Progressive ramps)."""
    await router.release("1.0.0")
    await router.wait_for_lane("1.0", "active")
    await settled(router)
    body = {"version": "1.0.1", "packageUrl": "/packages/1.0.1.zip"}
    answer = await refused(router, "/api/releases", {**body, "ramp": plan(50, 100)}, 409, "ramp_not_for_a_patch")
    assert answer["field"] == "ramp" and "new MINOR" in answer["message"]
    assert (await router.http.post("/api/releases", json=body)).status_code == 202
