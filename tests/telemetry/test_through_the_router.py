"""Telemetry of starts through the router (in-process dev host, lanes behind httpx.MockTransport):
the JSON log lines and their fields, the traceparent a lane receives, the router's span and the
counters. W3C Trace Context: https://www.w3.org/TR/trace-context/ (traceparent is
version-traceid-parentid-flags; a hop that passes a request on keeps the trace id and puts its
own span id in parent-id)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.telemetry import TraceParent
from tests.router.router_harness import FakeLane, Router, running_router
from tests.telemetry.conftest import Exported, LogLines

pytestmark = pytest.mark.timeout(90)

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
CLIENT_TRACESTATE = "congo=t61rcWkgMzE"
SAS_SIGNATURE = "sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


def record_lane_starts(router: Router) -> list[httpx.Request]:
    """The starts (POST orchestrators/...) the fake lanes receive, headers and all."""
    starts: list[httpx.Request] = []
    answer = router.lanes._answer

    def recording(base: str, lane: FakeLane, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "/orchestrators/" in request.url.path:
            starts.append(request)
        return answer(base, lane, request)

    router.lanes._answer = recording  # type: ignore[method-assign]
    return starts


async def release(router: Router, version: str, provision: str = "eager") -> None:
    response = await router.http.post("/api/releases", json={
        "version": version, "packageUrl": f"/packages/{version}.zip?{SAS_SIGNATURE}", "provision": provision})
    assert response.status_code == 202, response.text


async def release_active(router: Router, version: str) -> None:
    """Release `version` with its lane provisioned at once, and wait until the lane is active."""
    await release(router, version)
    await router.wait_for_lane(".".join(version.split(".")[:2]), "active")


async def start(router: Router, version: str, **headers: str) -> dict[str, Any]:
    response = await router.http.post(
        "/api/orchestrators/process_order", json={"order": 1}, headers={"X-App-Version": version, **headers})
    assert response.status_code == 202, response.text
    return dict(response.json())


def run(tmp_path: Path, scenario: Any, **overrides: Any) -> None:
    async def main() -> None:
        async with running_router(tmp_path, **overrides) as router:
            await scenario(router)

    asyncio.run(main())


def test_a_direct_start_passes_a_child_of_the_clients_traceparent_to_the_lane(tmp_path: Path, untraced: Exported):
    async def scenario(router: Router) -> None:
        await release_active(router, "1.0.0")
        starts = record_lane_starts(router)
        await start(router, "1.0.0", traceparent=CLIENT_TRACEPARENT, tracestate=CLIENT_TRACESTATE)
        await start(router, "1.0.0")  # no trace from the client, no tracing: none to the lane
        await start(router, "1.0.0", traceparent="00-not-a-traceparent-01")
        traced, untraced_start, invalid = starts
        sent = TraceParent.parse(traced.headers["traceparent"])
        assert sent is not None and sent.trace_id == CLIENT_TRACE_ID and sent.flags == "01"
        assert sent.span_id != CLIENT_SPAN_ID  # the router's own hop
        assert traced.headers["tracestate"] == CLIENT_TRACESTATE
        assert "traceparent" not in untraced_start.headers and "traceparent" not in invalid.headers

    run(tmp_path, scenario)
    assert untraced.points("router.starts.forwarded") == {"1.0": 3}


def test_the_routers_span_is_the_clients_child_and_the_lanes_parent(tmp_path: Path, exported: Exported):
    async def scenario(router: Router) -> None:
        await release_active(router, "1.0.0")
        starts = record_lane_starts(router)
        await start(router, "1.0.0", traceparent=CLIENT_TRACEPARENT, tracestate=CLIENT_TRACESTATE)
        (span,) = exported.finished("forward start")
        assert span.parent is not None and span.parent.is_remote
        assert f"{span.parent.span_id:016x}" == CLIENT_SPAN_ID
        assert f"{span.context.trace_id:032x}" == CLIENT_TRACE_ID
        assert span.attributes is not None and span.attributes["router.lane"] == "1.0"
        sent = TraceParent.parse(starts[0].headers["traceparent"])
        assert sent is not None and sent.trace_id == CLIENT_TRACE_ID
        assert sent.span_id == f"{span.context.span_id:016x}"  # the lane's parent is the router's span
        # Tracing on and no client trace: the router's span starts one, and the lane joins it.
        await start(router, "1.0.0")
        root = exported.finished("forward start")[1]
        assert root.parent is None
        assert TraceParent.parse(starts[1].headers["traceparent"]).trace_id == f"{root.context.trace_id:032x}"

    run(tmp_path, scenario)
    assert exported.points("router.starts.forwarded") == {"1.0": 2}


def test_a_held_start_is_counted_and_forwarded_later_in_the_clients_trace(tmp_path: Path, exported: Exported):
    async def scenario(router: Router) -> None:
        await release(router, "2.0.0", provision="lazy")
        starts = record_lane_starts(router)
        held = await start(router, "2.0.0", traceparent=CLIENT_TRACEPARENT)
        assert held["held"] is True
        await router.wait_for("the held start to reach the lane", lambda: _async(bool(starts)))
        (span,) = exported.finished("forward start")
        assert f"{span.parent.span_id:016x}" == CLIENT_SPAN_ID  # the original caller, kept durably
        sent = TraceParent.parse(starts[0].headers["traceparent"])
        assert sent.trace_id == CLIENT_TRACE_ID and sent.span_id == f"{span.context.span_id:016x}"

    run(tmp_path, scenario)
    assert exported.points("router.starts.held") == {"2.0": 1}
    assert exported.points("router.starts.forwarded") == {"2.0": 1}


def test_the_drain_monitors_count_is_a_gauge_per_draining_lane(tmp_path: Path, exported: Exported):
    async def scenario(router: Router) -> None:
        await release_active(router, "1.0.0")
        await start(router, "1.0.0")
        await start(router, "1.0.0")
        await release(router, "1.1.0")
        await router.wait_for("a drain count of lane 1.0",
                              lambda: _async(exported.points("router.lane.draining.in_flight").get("1.0") == 2))
        router.backend.lane("1.0").finish_all()
        await router.wait_for_lane("1.0", "deleted")
        await router.wait_for("lane 1.0 to leave the gauge",
                              lambda: _async("1.0" not in exported.points("router.lane.draining.in_flight")))

    run(tmp_path, scenario)


async def _async(value: bool) -> bool:
    return value


def test_every_line_of_a_start_is_json_with_its_lane_version_and_instance(tmp_path: Path, log_lines: LogLines,
                                                                         untraced: Exported):
    secrets: list[str] = []

    async def scenario(router: Router) -> None:
        await release_active(router, "1.0.0")
        direct = await start(router, "1.0.0", traceparent=CLIENT_TRACEPARENT)
        await release(router, "2.0.0", provision="lazy")
        # The release orchestration records the lazy lane a moment after its 202.
        await router.wait_for("lane 2.0 in the version map", lambda: router.lane("2.0"))
        held = await start(router, "2.0.0")
        await router.wait_for("the held start to be forwarded", lambda: _held_forwarded(router, held["id"]))
        secrets.extend(lane.key for lane in router.lanes.by_url.values())
        secrets.append(router.http.headers["x-functions-key"])
        found["direct"], found["held"] = direct["id"], held["id"]

    found: dict[str, str] = {}
    run(tmp_path, scenario)
    lines = log_lines.ours()
    assert lines and all(set(line) >= {"time", "level", "logger", "message", "lane", "version", "instanceId",
                                       "releaseId"} for line in lines)
    assert all(line["logger"].split(".")[0] in ("router", "provisioning") for line in lines)
    forwarded = [line for line in lines if line["logger"] == "router.forwarding"]
    assert {"lane": "1.0", "version": "1.0.0", "instanceId": found["direct"]}.items() <= forwarded[0].items()
    (holding,) = [line for line in lines if "held for lane" in line["message"]]
    assert {"lane": "2.0", "version": "2.0.0", "instanceId": found["held"]}.items() <= holding.items()
    # The activity that forwards it later knows the lane and the instance it starts there.
    (later,) = [line for line in lines if line["message"].startswith("held start of")]
    assert later["lane"] == "2.0" and later["instanceId"]
    created = [line for line in lines if line["logger"] == "router.activities" and ": app " in line["message"]]
    assert {(line["lane"], line["version"]) for line in created} == {("1.0", "1.0.0"), ("2.0", "2.0.0")}
    everything = "\n".join(log_lines.text())
    assert not [secret for secret in secrets if secret in everything]
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in everything


async def _held_forwarded(router: Router, held_id: str) -> bool:
    response = await router.http.get(f"/api/held/{held_id}")
    return response.status_code == 200


def test_a_failed_deploys_warning_names_its_release(tmp_path: Path, log_lines: LogLines):
    from provisioning.errors import PackageError

    async def scenario(router: Router) -> None:
        router.backend.fail["deploy_package"] = [PackageError("download failed: 503 from the blob store")]
        response = await router.http.post("/api/releases", json={
            "version": "1.0.0", "packageUrl": f"/packages/1.0.0.zip?{SAS_SIGNATURE}"})
        assert response.status_code == 202, response.text
        found["release"] = response.json()["id"]
        await router.wait_for_lane("1.0", "failed")

    found: dict[str, str] = {}
    run(tmp_path, scenario)
    (warning,) = [line for line in log_lines.ours() if "set_package" in line["message"]]
    assert warning["level"] == "WARNING" and "package_error" in warning["message"]
    assert (warning["lane"], warning["version"], warning["releaseId"]) == ("1.0", "1.0.0", found["release"])
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in "\n".join(log_lines.text())
