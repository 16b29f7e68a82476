"""GET /api/lanes/{lane}/histories: a lane's in-flight orchestrations with their histories, as NDJSON.

The lane is faked at the HTTP boundary (router_harness's MockTransport) and answers as the Durable
extension's HTTP API does:
- `GET instances/{id}` carries `historyEvents` only with `showHistory=true`, the events' inputs and
  results only with `showHistoryOutput=true`, and `input` only with `showInput=true`
  (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api#get-instance-status;
  Azure/azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs
  HandleGetStatusRequestAsync);
- `GET instances` pages by `top` and the `x-ms-continuation-token` header, sent on every page,
  "null" on the last (same page, "Get all instances status", and HttpApiHandler.cs
  HandleGetStatusRequestAsync's continuation handling); entities show as `@name@key`, Running.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from provisioning.config import ProvisioningConfig
from router import runtime
from router.continuation import router_signer
from router.patch_gate import PatchGate

from tests.router.router_harness import (
    DURABLE_API,
    FakeLane,
    FakeLanes,
    Router,
    running_router,
)

CONTINUATION = "x-ms-continuation-token"
SECRET_INPUT = {"card": "4111-1111"}


class HistoryLanes(FakeLanes):
    """FakeLanes answering the status query's show* flags and paging the instance query."""

    def _answer(self, base: str, lane: FakeLane, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-functions-key") != lane.key:
            return httpx.Response(401, text="")
        path = request.url.path[len(DURABLE_API):].strip("/").split("/")
        params = request.url.params
        if request.method == "GET" and path == ["instances"]:
            wanted = set(filter(None, params.get("runtimeStatus", "").split(",")))
            entities = [{"name": e.split("@")[1], "instanceId": e, "runtimeStatus": "Running"}
                        for e in sorted(lane.entities)]
            everything = [i for i in [*lane.instances.values(), *entities]
                          if not wanted or i["runtimeStatus"] in wanted]
            start = int(request.headers.get(CONTINUATION) or 0)
            top = int(params.get("top") or 100)
            page = everything[start:start + top]
            token = str(start + top) if start + top < len(everything) else "null"
            return httpx.Response(200, json=[_bare(i) for i in page], headers={CONTINUATION: token})
        if request.method == "GET" and path[0] == "instances" and len(path) == 2:
            instance = lane.instances.get(path[1])
            if instance is None:
                return httpx.Response(404, text="")
            document = _bare(instance)
            if params.get("showInput") == "true":
                document["input"] = instance.get("input")
            if params.get("showHistory") == "true":
                with_output = params.get("showHistoryOutput") == "true"
                document["historyEvents"] = [
                    event if with_output else {k: v for k, v in event.items() if k not in ("Input", "Result")}
                    for event in instance.get("historyEvents", [])
                ]
            running = instance["runtimeStatus"] in ("Running", "Pending", "Suspended")
            return httpx.Response(202 if running else 200, json=document)
        return super()._answer(base, lane, request)


def _bare(instance: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in instance.items() if k not in ("input", "historyEvents")}


def _instance(instance_id: str, status: str, *, mention: str = "") -> dict[str, Any]:
    return {
        "name": "process_order", "instanceId": instance_id, "runtimeStatus": status,
        "createdTime": "2026-01-01T00:00:00Z", "lastUpdatedTime": "2026-01-01T00:00:01Z",
        "input": SECRET_INPUT, "output": None, "customStatus": None,
        "historyEvents": [
            {"EventType": "ExecutionStarted", "FunctionName": "process_order", "Input": json.dumps(SECRET_INPUT),
             "Timestamp": "2026-01-01T00:00:00Z"},
            {"EventType": "TaskCompleted", "FunctionName": "reserve", "Result": json.dumps(mention or "ok"),
             "ScheduledTime": "2026-01-01T00:00:00Z", "Timestamp": "2026-01-01T00:00:01Z"},
        ],
    }


def _run(tmp_path: Path, scenario: Any, **overrides: Any) -> None:
    async def main() -> None:
        async with running_router(tmp_path, lanes=HistoryLanes(), **overrides) as router:
            await scenario(router)

    asyncio.run(main())


async def _active_lane(router: Router, version: str = "1.0.0") -> FakeLane:
    await router.release(version)
    await router.wait_for_lane(version.rsplit(".", 1)[0], "active")
    return router.backend.lane(version.rsplit(".", 1)[0])


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_histories_are_the_in_flight_orchestrations_with_history_input_and_outputs(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        lane = await _active_lane(router)
        for instance_id, status in [("a", "Running"), ("b", "Pending"), ("c", "Suspended"), ("d", "Completed"),
                                    ("e", "Failed"), ("f", "Terminated")]:
            lane.instances[instance_id] = _instance(instance_id, status)
        lane.entities.add("@counter@one")  # an entity: Running forever, no history to replay
        documents = _lines(await router.http.get("/api/lanes/1.0/histories"))
        assert sorted(d["instanceId"] for d in documents) == ["a", "b", "c"]
        for document in documents:
            assert document["input"] == SECRET_INPUT
            assert [e["EventType"] for e in document["historyEvents"]] == ["ExecutionStarted", "TaskCompleted"]
            assert document["historyEvents"][1]["Result"] == '"ok"'

    _run(tmp_path, scenario)


def test_neither_the_lane_host_nor_its_key_leaves_the_router(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        lane = await _active_lane(router)
        # An activity that answered with the lane's own URL and key (a misbehaving app).
        lane.instances["a"] = _instance("a", "Running", mention=f"http://lane-1-0.test/x?code={lane.key}")
        response = await router.http.get("/api/lanes/1.0/histories")
        documents = _lines(response)
        assert [d["instanceId"] for d in documents] == ["a"]
        assert lane.key not in response.text and "lane-1-0.test" not in response.text

    _run(tmp_path, scenario)


def test_histories_page_by_top_and_a_continuation_token_bound_to_the_lane(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        lane = await _active_lane(router)
        for number in range(5):
            lane.instances[f"i{number}"] = _instance(f"i{number}", "Running")
        lane.instances["done"] = _instance("done", "Completed")
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            response = await router.http.get("/api/lanes/1.0/histories", params={"top": "2"},
                                             headers={CONTINUATION: token} if token else {})
            page = _lines(response)
            assert len(page) <= 2
            seen += [d["instanceId"] for d in page]
            pages += 1
            token = response.headers.get(CONTINUATION)
            if token is None:
                break
            # The lane's own token ("2", "4") never reaches the caller: the router's is signed.
            assert token not in ("2", "4")
        assert sorted(seen) == ["i0", "i1", "i2", "i3", "i4"] and len(seen) == 5
        assert pages == 3
        # A token continues the lane it was issued for only; an edited one is a 400.
        first = await router.http.get("/api/lanes/1.0/histories", params={"top": "2"})
        token = first.headers[CONTINUATION]
        await _active_lane(router, "2.0.0")
        other = await router.http.get("/api/lanes/2.0/histories", params={"continuationToken": token})
        assert other.status_code == 400 and other.json()["field"] == "continuationToken"
        edited = await router.http.get("/api/lanes/1.0/histories", headers={CONTINUATION: token[:-2] + "xx"})
        assert edited.status_code == 400 and edited.json()["field"] == CONTINUATION
        bad_top = await router.http.get("/api/lanes/1.0/histories", params={"top": "0"})
        assert bad_top.status_code == 400 and bad_top.json()["field"] == "top"

    _run(tmp_path, scenario)


def test_an_unknown_lane_is_a_404_naming_the_known_lanes(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        await _active_lane(router)
        response = await router.http.get("/api/lanes/3.1/histories")
        assert response.status_code == 404, response.text
        body = response.json()
        assert body["error"] == "unknown_lane" and body["knownLanes"] == ["1.0"] and body["field"] == "lane"
        bad = await router.http.get("/api/lanes/one/histories")
        assert bad.status_code == 400, bad.text

    _run(tmp_path, scenario)


def test_a_deleted_lane_is_gone_and_a_lane_without_an_app_is_a_conflict(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        await _active_lane(router)
        await _active_lane(router, "1.1.0")  # now current: 1.0 may be retired
        retired = await router.http.post("/api/lanes/1.0/retire", params={"force": "true"})
        assert retired.status_code == 202, retired.text
        await router.wait_for_lane("1.0", "deleted")
        await router.release("2.0.0", provision="lazy")  # registered, no app until its first request
        await router.wait_for_lane("2.0", "provisioning")
        waiting = await router.http.get("/api/lanes/2.0/histories")
        assert waiting.status_code == 409, waiting.text
        assert waiting.json()["lane"] == "2.0" and waiting.json()["state"] == "provisioning"
        gone = await router.http.get("/api/lanes/1.0/histories")
        assert gone.status_code == 410, gone.text
        assert gone.json()["error"] == "lane_gone"

    _run(tmp_path, scenario)


# --- the replay-check ticket: proof that a check's histories came from this router, for this lane --

TICKET = "x-replay-check-ticket"


def test_every_page_answers_a_ticket_of_its_lane_signed_by_the_router(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        lane = await _active_lane(router)
        for number in range(3):
            lane.instances[f"i{number}"] = _instance(f"i{number}", "Running")
        signer = router_signer(runtime.current().settings)
        first = await router.http.get("/api/lanes/1.0/histories", params={"top": "2"})
        last = await router.http.get("/api/lanes/1.0/histories", headers={CONTINUATION: first.headers[CONTINUATION]})
        assert CONTINUATION not in last.headers
        for page in (first, last):
            ticket = signer.verified(page.headers[TICKET])
            assert ticket is not None and ticket["kind"] == "replayCheckTicket" and ticket["lane"] == "1.0"
            assert datetime.fromisoformat(str(ticket["issuedAt"])).tzinfo is not None
        # A refusal answers none: there were no histories to vouch for.
        unknown = await router.http.get("/api/lanes/3.1/histories")
        assert unknown.status_code == 404 and TICKET not in unknown.headers

    _run(tmp_path, scenario)


def test_a_patch_takes_its_lanes_ticket_and_refuses_another_lanes_under_require(tmp_path: Path) -> None:
    """The pipeline's path on Azure (the router never replays): histories, check, release."""

    def url(version: str) -> str:
        return f"https://packages.test/app-{version}.zip"

    async def scenario(router: Router) -> None:
        for version in ("1.0.0", "2.0.0"):
            posted = await router.http.post("/api/releases", json={"version": version, "packageUrl": url(version)})
            assert posted.status_code == 202, posted.text
            await router.wait_for_lane(version[:3], "active")
        ticket_1_0 = (await router.http.get("/api/lanes/1.0/histories")).headers[TICKET]
        ticket_2_0 = (await router.http.get("/api/lanes/2.0/histories")).headers[TICKET]

        def patch(lane: str, ticket: str) -> dict[str, Any]:
            check = {"sha256": "ab" * 32, "instancesChecked": 0, "checkedAt": "2026-12-01T16:00:00+00:00",
                     "passed": True, "lane": lane, "ticket": ticket}
            return {"version": "1.0.1", "packageUrl": url("1.0.1"), "sha256": "ab" * 32, "replayCheck": check}

        # 2.0's ticket relabelled as 1.0's check: the ticket says which lane it was read from.
        refused = await router.http.post("/api/releases", json=patch("1.0", ticket_2_0))
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["error"] == "replay_check_required" and body["reason"] == "ticket_other_lane"
        assert "check-patch" in body["message"] and ticket_2_0 not in refused.text
        taken = await router.http.post("/api/releases", json=patch("1.0", ticket_1_0))
        assert taken.status_code == 202, taken.text

    _run(tmp_path, scenario, patch_gate=PatchGate.REQUIRE,
         provisioning=ProvisioningConfig(provisioner="azure", allowed_package_hosts=("packages.test",)))
