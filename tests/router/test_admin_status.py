"""GET /api/status, the deployment gate of every lane at once, when a lane hangs: the answer
names that lane within `admin_api.STATUS_LANE_SECONDS` (set under the release CLI's 30 s HTTP
timeout) and still counts the others, instead of holding the whole answer for the hung lane's
every retry, past the caller's timeout, so that `dfrouter gate` blamed the router."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from router import admin_api
from tests.router.router_harness import FakeLane, Router, running_router


def hang_instance_queries_of(router: Router, hung: FakeLane) -> None:
    """The hung lane accepts the connection and never answers an instance query (MockTransport
    awaits a handler's coroutine); every other call is answered as before."""
    answer = router.lanes._answer

    def answering(base: str, lane: FakeLane, request: httpx.Request) -> Any:
        if lane is hung and request.method == "GET" and request.url.path.endswith("/instances"):
            return asyncio.Event().wait()  # never set
        return answer(base, lane, request)

    router.lanes._answer = answering  # type: ignore[method-assign]


def test_a_hung_lane_is_named_in_the_status_in_bounded_time_and_the_others_still_count(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(admin_api, "STATUS_LANE_SECONDS", 0.5, raising=False)

    async def scenario() -> None:
        async with running_router(tmp_path) as router:
            await router.release("1.0.0")
            await router.wait_for_lane("1.0", "active")
            await router.release("2.0.0")
            await router.wait_for_lane("2.0", "active")
            await router.start("2.0.0")
            hang_instance_queries_of(router, router.backend.lane("1.0"))
            answer = await asyncio.wait_for(router.http.get("/api/status"), 10)
            assert answer.status_code == 200, answer.text
            status = answer.json()
            assert status["hasRunning"] is True, "a lane that cannot be counted keeps the gate closed"
            assert status["lanes"]["1.0"]["error"]["error"] == "lane_timeout"
            assert "1.0" in status["lanes"]["1.0"]["error"]["message"]
            assert status["lanes"]["2.0"]["running"] == 1

    asyncio.run(scenario())
