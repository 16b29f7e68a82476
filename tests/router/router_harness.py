"""The router's own function app, run in-process by the dev host, with lanes faked at the seams.

No lane process is started: provisioning goes to `FakeBackend` (a `LaneBackend` in memory, with
failures to script), and the lane client calls `FakeLanes` through `httpx.MockTransport`, which
answers as a lane's Durable HTTP API does (key check, starts, instance queries). Timings are a
fraction of a second, so every branch of the orchestrations runs in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import function_app
from devhost.app_loader import discover
from devhost.config import HostConfig
from devhost.engine import DurableEngine, EngineOptions, FaultOptions
from devhost.keys import load_or_create_keys
from devhost.server import DevHost
from provisioning.base import AppRef, DeployResult, Health, LaneSpec, Package, Readiness
from provisioning.config import ProvisioningConfig
from provisioning.errors import TransientProvisioningError
from router import runtime
from router.entity import VERSION_MAP_ENTITY, VERSION_MAP_KEY
from router.lane_client import LaneClient
from router.lane_types import LaneClientOptions
from router.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DURABLE_API = "/runtime/webhooks/durabletask"

FAST_SETTINGS = dict(
    drain_poll_seconds=0.3,
    drain_grace_seconds=0,
    map_cache_seconds=0.2,
    lane_ready_timeout_seconds=3.0,
    held_request_timeout_seconds=30.0,
    release_timeout_seconds=30.0,
    lane_probe_seconds=0.3,
    # FakeBackend never reads a package, so release intake need not find the file either.
    verify_local_packages=False,
)


@dataclass
class FakeLane:
    """One lane app's Durable HTTP API: its key and its orchestration instances."""

    key: str = field(default_factory=lambda: secrets.token_hex(8))
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    query_failures: int = 0  # instance queries to answer 500 before answering again
    late_starts: list[int] = field(default_factory=list)  # add a Running instance at these query numbers
    queries: int = 0
    requests: int = 0  # every call that reached it
    down: bool = False  # its host died: nothing answers until the backend restarts it
    restarts_to_recover: int = 1  # how many restarts it takes to bring it back
    entities: set[str] = field(default_factory=set)  # real entities, "@name@key": Running forever
    # Instance id -> how many requests about it to act on, then lose the answer of (read timeout)
    lost_answers: dict[str, int] = field(default_factory=dict)
    finish_at_once: bool = False  # started orchestrations complete before their start answers

    def start(self, name: str, instance_id: str) -> None:
        self.instances[instance_id] = {
            "name": name, "instanceId": instance_id,
            "runtimeStatus": "Completed" if self.finish_at_once else "Running",
            "createdTime": datetime.now(timezone.utc).isoformat(),
        }

    def finish_all(self) -> None:
        for instance in self.instances.values():
            instance["runtimeStatus"] = "Completed"


# host.json `extensions.durableTask.overridableExistingInstanceStates`, as the extension reads it.
NON_RUNNING_STATES = "NonRunningStates"  # the default
ANY_STATE = "AnyState"
# The extension's own list (OverridableStates.cs NonRunning), not the router's: a fake that
# shared the client's constants could not catch the client's mistakes about them.
IN_FLIGHT = frozenset({"Running", "Pending", "Suspended", "ContinuedAsNew"})


class FakeLanes:
    """Every fake lane by its base URL; `handler` is the MockTransport's.

    A start whose instance id exists is answered as the extension does (HttpApiHandler.cs
    HandleStartOrchestratorRequestAsync → DurableClient.cs StartNewAsync, whose dedupe statuses
    come from OverridableStates.cs): under `NonRunningStates` a finished instance is replaced by a
    new run (202) and one in flight refused with DurableTask.Core's
    OrchestrationAlreadyExistsException, which HttpApiHandler's catch-all answers as a 500;
    under `AnyState` any instance is replaced. `starts` lists every run a lane began.
    """

    def __init__(self, existing_instance_states: str = NON_RUNNING_STATES) -> None:
        self.by_url: dict[str, FakeLane] = {}
        self.starts: list[tuple[str, str]] = []  # (base URL, instance id), in order
        self.existing_instance_states = existing_instance_states

    def handler(self, request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.netloc.decode()}"
        lane = self.by_url.get(base)
        if lane is None or lane.down:
            raise httpx.ConnectError("nothing listens there", request=request)
        lane.requests += 1
        response = self._answer(base, lane, request)
        about = request.url.path.rsplit("/", 1)[-1]
        if lane.lost_answers.get(about, 0) > 0:
            lane.lost_answers[about] -= 1
            raise httpx.ReadTimeout("the lane acted but its answer was lost", request=request)
        return response

    def runs_of(self, instance_id: str) -> int:
        """How many times a lane began running `instance_id`."""
        return sum(1 for _, started in self.starts if started == instance_id)

    def _answer(self, base: str, lane: FakeLane, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-functions-key") != lane.key:
            return httpx.Response(401, text="")
        path = request.url.path[len(DURABLE_API):].strip("/").split("/")
        if request.method == "POST" and path[0] == "orchestrators":
            name = path[1]
            instance_id = path[2] if len(path) > 2 else secrets.token_hex(8)
            existing = lane.instances.get(instance_id)
            if (existing and self.existing_instance_states == NON_RUNNING_STATES
                    and existing["runtimeStatus"] in IN_FLIGHT):
                status = existing["runtimeStatus"]
                return httpx.Response(500, json={
                    "Message": "Something went wrong while processing your request",
                    "ExceptionMessage": f"An Orchestration instance with the status {status} already exists.",
                    "ExceptionType": "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
                })
            lane.start(name, instance_id)
            self.starts.append((base, instance_id))
            return httpx.Response(202, json={"id": instance_id})
        if request.method == "GET" and path[0] == "entities" and len(path) == 3:
            entity_id = f"@{path[1]}@{path[2]}"
            return httpx.Response(200, json={"count": 1}) if entity_id in lane.entities else httpx.Response(404)
        if request.method == "GET" and path == ["instances"]:
            lane.queries += 1
            if lane.query_failures > 0:
                lane.query_failures -= 1
                return httpx.Response(500, text="storage unavailable")
            if lane.queries in lane.late_starts:
                lane.start("late_order", f"late-{lane.queries}")
            wanted = set(filter(None, request.url.params.get("runtimeStatus", "").split(",")))
            entities = [{"name": e.split("@")[1], "instanceId": e, "runtimeStatus": "Running",
                         "createdTime": "2026-01-01T00:00:00+00:00"} for e in sorted(lane.entities)]
            page = [i for i in [*lane.instances.values(), *entities]
                    if not wanted or i["runtimeStatus"] in wanted]
            return httpx.Response(200, json=page)
        if request.method == "GET" and path[0] == "instances":
            instance = lane.instances.get(path[1])
            if instance is None:
                return httpx.Response(404, text="")
            return httpx.Response(202 if instance["runtimeStatus"] in IN_FLIGHT else 200, json=instance)
        return httpx.Response(404, json={})


class FakeBackend:
    """A LaneBackend in memory. `fail[op]` lists errors to raise on the next calls of `op`."""

    def __init__(self, lanes: FakeLanes) -> None:
        self.lanes = lanes
        self.fail: dict[str, list[Exception]] = defaultdict(list)
        self.calls: list[str] = []
        self.healthy = True
        self.sick: set[str] = set()  # apps whose health check fails while the others pass
        self.health_detail = "host running"
        self.deployed: dict[str, str] = {}  # app name -> version
        self.deleted: list[str] = []
        self.looks: list[tuple[str, bool]] = []  # check_readiness's (deployed_at, triggers_synced)
        self.packages: dict[str, str] = {}  # app name -> the package URL deploy_package received
        self.package_set_at: list[str] = []  # when deploy_package changed an app's package
        # Deploys to set the package and then lose the answer of (a read timeout after ARM acted);
        # once set, the same package again answers "unchanged", as the azure backend does.
        self.lost_deploy_answers = 0
        self.lost_deploy_answers_used = False  # only then is "unchanged" answered (older tests expect a change)

    def _call(self, op: str) -> None:
        self.calls.append(op)
        if self.fail[op]:
            raise self.fail[op].pop(0)

    def count(self, op: str) -> int:
        return self.calls.count(op)

    def lane(self, key: str) -> FakeLane:
        return self.lanes.by_url[url_of(key)]

    async def create_app(self, lane: LaneSpec) -> AppRef:
        self._call("create_app")
        self.lanes.by_url.setdefault(url_of(lane.lane), FakeLane())
        return AppRef(name=f"lane-{lane.lane}", base_url=url_of(lane.lane), resource_id=f"/fake/{lane.lane}")

    async def configure_app(self, lane: LaneSpec, app: AppRef) -> None:
        self._call("configure_app")

    async def deploy_package(self, lane: LaneSpec, app: AppRef, package: Package) -> DeployResult:
        self._call("deploy_package")
        self.deployed[app.name] = lane.version
        unchanged = self.lost_deploy_answers_used and self.packages.get(app.name) == package.url
        if not unchanged:
            self.package_set_at.append(datetime.now(timezone.utc).isoformat())
        self.packages[app.name] = package.url
        if self.lost_deploy_answers > 0:
            self.lost_deploy_answers -= 1
            self.lost_deploy_answers_used = True
            raise TransientProvisioningError("the package was set, but ARM's answer was lost (read timeout)")
        return DeployResult(version=lane.version, extra={DeployResult.UNCHANGED: "true"} if unchanged else {})

    async def read_system_key(self, app: AppRef) -> str:
        self._call("read_system_key")
        return self.lanes.by_url[app.base_url].key

    async def check_health(self, app: AppRef) -> Health:
        self._call("check_health")
        return Health(self.healthy and app.name not in self.sick, self.health_detail)

    async def check_readiness(self, app: AppRef, *, deployed_at: str = "", triggers_synced: bool = False) -> Readiness:
        self._call("check_readiness")
        self.looks.append((deployed_at, triggers_synced))
        ready = self.healthy and app.name not in self.sick
        return Readiness(ready, self.health_detail, key_read=True, triggers_synced=True)

    async def restart_app(self, app: AppRef) -> None:
        self._call("restart_app")
        lane = self.lanes.by_url[app.base_url]
        lane.restarts_to_recover -= 1
        lane.down = lane.down and lane.restarts_to_recover > 0

    async def delete_app(self, app: AppRef) -> None:
        self._call("delete_app")
        self.lanes.by_url.pop(app.base_url, None)
        self.deleted.append(app.name)

    async def aclose(self) -> None:
        pass


def url_of(lane: str) -> str:
    return f"http://lane-{lane.replace('.', '-')}.test"


@dataclass
class Router:
    """The running router, its fakes, and an HTTP client that speaks to it with the master key."""

    host: DevHost
    http: httpx.AsyncClient
    backend: FakeBackend
    lanes: FakeLanes
    at_least_once: bool = False  # every activity delivered twice, some episodes crash and replay

    def ran(self, op: str, times: int) -> bool:
        """The backend ran `op` `times` times; delivered at least once, up to twice as often."""
        count = self.backend.count(op)
        return times <= count <= times * (2 if self.at_least_once else 1)

    async def release(self, version: str, *, provision: str = "eager", expect: int = 202) -> str:
        response = await self.http.post("/api/releases", json={
            "version": version, "packageUrl": f"/packages/{version}.zip", "provision": provision})
        assert response.status_code == expect, response.text
        return str(response.json().get("id", ""))

    async def release_status(self, release_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/releases/{release_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def version_map(self) -> dict[str, Any]:
        response = await self.http.get("/api/versionmap")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def lane(self, key: str) -> dict[str, Any] | None:
        lane = (await self.version_map())["lanes"].get(key)
        return dict(lane) if lane else None

    async def start(self, version: str | None, body: Any = None, instance_id: str = "") -> httpx.Response:
        headers = {"X-App-Version": version} if version else {}
        path = "/api/orchestrators/process_order" + (f"/{instance_id}" if instance_id else "")
        return await self.http.post(path, json=body or {}, headers=headers)

    async def lifecycle(self, lane: str) -> dict[str, Any]:
        response = await self.http.get(f"{DURABLE_API}/instances/lane-lifecycle-{lane}")
        return dict(response.json()) if response.status_code < 300 or response.content else {}

    async def wait_for_lane(self, key: str, state: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll the version map until lane `key` is in `state`; fail naming the last state seen."""
        deadline = time.monotonic() + timeout
        lane: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            lane = await self.lane(key)
            if lane is not None and lane["state"] == state:
                return lane
            await asyncio.sleep(0.05)
        raise AssertionError(f"lane {key} did not become {state}; last seen: {json.dumps(lane)[:2000]}")

    async def wait_for(self, what: str, probe: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = await probe()
            if last:
                return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"gave up waiting for {what}")


@contextlib.asynccontextmanager
async def running_router(tmp_path: Path, *, at_least_once: bool = False, **overrides: Any) -> AsyncIterator[Router]:
    """The router app in an in-process dev host (port 0, fresh data dir) with fresh fakes.

    `at_least_once` runs it as the Durable runtime may: every activity delivered twice and a
    fifth of the orchestration episodes aborted after the SDK ran and replayed.
    """
    lanes = overrides.pop("lanes", None) or FakeLanes()  # a test's own FakeLanes answers more of the API
    backend = FakeBackend(lanes)
    provisioning = overrides.pop("provisioning", ProvisioningConfig())
    settings = Settings(**{**FAST_SETTINGS, **overrides}, provisioning=provisioning)
    lane_client = LaneClient(LaneClientOptions(backoff_seconds=0.01, backoff_max_seconds=0.05),
                             transport=httpx.MockTransport(lanes.handler))
    runtime.configure(runtime.RouterRuntime(settings, lambda _: backend, lane_client=lane_client,
                                            activity_retry_seconds=0.05))
    function_app.app.functions_bindings = None  # get_functions() refuses a second call otherwise
    functions = discover(function_app.app)
    config = HostConfig(app_dir=REPO_ROOT, host="127.0.0.1", port=0, data_dir=tmp_path / "router",
                        route_prefix="api", task_hub="RouterTests")
    keys = load_or_create_keys(config.data_dir, function_names=functions.names, environ={})
    faults = FaultOptions(duplicate_activities=True, crash_replay_rate=0.2, seed=7) if at_least_once else FaultOptions()
    engine = DurableEngine(config.data_dir, config.task_hub, functions.registry(), EngineOptions(faults=faults))
    host = DevHost(config, functions, keys, engine)
    await host.start()
    try:
        async with httpx.AsyncClient(base_url=host.base_url, timeout=20.0,
                                     headers={"x-functions-key": keys.master_key}) as http:
            yield Router(host, http, backend, lanes, at_least_once)
    finally:
        await host.stop()
        await lane_client.aclose()


def with_router(**overrides: Any) -> Any:
    """Run `async def scenario(router)` as a plain test, against a fresh router with `overrides`,
    twice: with each activity delivered once, and at least once (duplicated, with crash-replays)."""

    def wrap(scenario: Any) -> Any:
        @pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
        def test(tmp_path: Path, delivery: str) -> None:
            async def main() -> None:
                async with running_router(tmp_path, at_least_once=delivery == "at_least_once", **overrides) as router:
                    await scenario(router)

            asyncio.run(main())

        test.__name__, test.__doc__ = scenario.__name__, scenario.__doc__
        return test

    return wrap


# --- a router shared by a module's table-driven tests ---------------------------------------------

class RouterThread:
    """A `running_router` on an event loop of its own thread, so a module's parametrized tests
    (each a plain sync test) share one router: `call(fn)` runs `await fn(router)` there.

    For tables of requests that must not change anything (the hostile-input corpus, the role-key
    matrix): building one router per row would cost seconds a row.
    """

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        import threading

        self._tmp_path, self._overrides = tmp_path, overrides
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.router: Router | None = None
        self._thread = threading.Thread(target=self._run, name="router-thread", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with running_router(self._tmp_path, **self._overrides) as router:
                self.router = router
                self._ready.set()
                await self._stop.wait()
        except BaseException as error:  # surfaced to the test thread by start()
            self._error = error
            self._ready.set()

    def start(self) -> "RouterThread":
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None or self.router is None:
            raise RuntimeError("the router did not start") from self._error
        return self

    def call(self, fn: Any, timeout: float = 30.0) -> Any:
        """`await fn(router)` on the router's loop; its result (or exception) here."""
        return asyncio.run_coroutine_threadsafe(fn(self.router), self._loop).result(timeout)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


async def state_snapshot(router: Router) -> dict[str, Any]:
    """Everything a request could change, for "nothing changed" assertions: the version map (lanes,
    states, versions, histories, quota), the router's own orchestration instances (releases, held
    requests, map commands), every fake lane's instances and starts, and the backend's calls."""
    response = await router.http.get(f"{DURABLE_API}/instances", params={"top": "1000"})
    assert response.status_code == 200, response.text
    router_instances = sorted(i["instanceId"] for i in response.json())
    entity = await router.http.get(f"{DURABLE_API}/entities/{VERSION_MAP_ENTITY}/{VERSION_MAP_KEY}")
    return {
        "version_map": entity.json() if entity.status_code == 200 else None,
        "router_instances": router_instances,
        "lanes": {url: json.loads(json.dumps(lane.instances)) for url, lane in router.lanes.by_url.items()},
        "lane_starts": list(router.lanes.starts),
        "backend_calls": list(router.backend.calls),
        "backend_deployed": dict(router.backend.deployed),
    }
