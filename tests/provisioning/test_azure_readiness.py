"""The Azure backend's readiness: one look at a lane app after a deploy, as the lifecycle repeats
it with backoff until ROUTER_LANE_READY_TIMEOUT.

ARM's side runs on the fake ARM (its `fail` seam answers 400 host-runtime errors, 409, 429 and
5xx); the lane host's side answers through `host_transport` (httpx.MockTransport) as the
Functions host does, or, in the last tests, real dev hosts behind the fake App Service.

What Azure does, and where it says so:
- listkeys answers 400 "Encountered an error (ServiceUnavailable) from host runtime." while the
  site's host is down (Azure/azure-functions-host#6255; the body as pulumi/pulumi-azure#565
  quotes it); a site operation during a restart is 409 "Cannot modify this site because another
  operation is in progress." (Azure/terraform-azurerm-avm-res-web-site#272).
- `/admin/host/status` (master key) carries `state`, `processUptime` (ms) and `errors`
  (azure-functions-host src/WebJobs.Script.WebHost/Models/HostStatus.cs); `/admin/functions`
  lists each function's `config.bindings` (Controllers/FunctionsController.cs).
- `durabletask_extension` is created by the Durable extension when a host first starts with it.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from provisioning.azure import AzureLaneBackend
from provisioning.azure_readiness import HostStatus, load_failure, orchestrators, serving_since
from provisioning.base import AppRef, Package, Readiness
from provisioning.errors import PackageError
from tests.fakes.app_service import HOST_RUNTIME_ERROR, OPERATION_IN_PROGRESS, FakeAppService, serve_fake_app_service
from tests.fakes.arm import FakeArm, StaticTokenCredential
from tests.provisioning.azure_support import lane_spec, make_config

T = TypeVar("T")
KEYS = "/host/default/listkeys"
SYNC = "/syncfunctiontriggers"


@dataclass
class FakeHost:
    """A lane app's Functions host as the readiness check reads it."""

    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    state: str = "Running"
    errors: list[str] = field(default_factory=list)
    functions: list[tuple[str, str]] = field(default_factory=lambda: [("orders", "orchestrationTrigger"),
                                                                     ("ship", "activityTrigger")])
    system_key: str = ""
    master_key: str = ""
    durable_status: int = 200
    seen: list[str] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.path)
        key = request.headers.get("x-functions-key")
        if request.url.path == "/admin/host/status" and key == self.master_key:
            uptime = (datetime.now(timezone.utc) - self.started).total_seconds() * 1000
            body: dict[str, Any] = {"id": "lane", "state": self.state, "processUptime": int(uptime)}
            if self.errors:
                body["errors"] = self.errors
            return httpx.Response(200, json=body)
        if request.url.path == "/admin/functions" and key == self.master_key:
            return httpx.Response(200, json=[{"name": n, "config": {"bindings": [{"type": t}]}}
                                             for n, t in self.functions])
        if request.url.path.startswith("/runtime/webhooks/durabletask/instances") and key == self.system_key:
            return httpx.Response(self.durable_status, json=[])
        return httpx.Response(401)


def look(arm: FakeArm, host: FakeHost, *, deployed_at: str = "", triggers_synced: bool = False) -> Readiness:
    return _on_backend(arm, host, lambda backend, app: backend.check_readiness(
        app, deployed_at=deployed_at, triggers_synced=triggers_synced))


def _on_backend(arm: FakeArm, host: FakeHost, work: Callable[[AzureLaneBackend, AppRef], Awaitable[T]]) -> T:
    name = "lane-app"
    if name not in arm.sites:
        arm.add_site(name, tags={})
    keys = arm.host_keys[name]
    host.master_key, host.system_key = keys["masterKey"], keys["systemKeys"].get("durabletask_extension", "")

    async def main() -> T:
        backend = AzureLaneBackend(make_config(arm, retry_total=1), StaticTokenCredential(),
                                   connection_verify=str(arm.ca_path), host_transport=httpx.MockTransport(host.handler))
        try:
            return await work(backend, AppRef(name, f"https://{name}.azurewebsites.net", arm.sites[name]["id"]))
        finally:
            await backend.aclose()

    return asyncio.run(main())


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


def test_a_host_serving_its_orchestrators_is_ready_and_its_triggers_are_synced_once(fake_arm, host):
    first = look(fake_arm, host)
    assert first.ready and first.key_read and first.triggers_synced, first
    assert "1 orchestrator(s) indexed (orders)" in first.detail
    assert look(fake_arm, host, triggers_synced=True).ready
    assert [c for c in fake_arm.calls() if c[1].endswith(SYNC)] == [("POST", "site" + SYNC)]


@pytest.mark.parametrize("status, code, message", [
    (400, "BadRequest", HOST_RUNTIME_ERROR),
    (409, "Conflict", OPERATION_IN_PROGRESS),
    (429, "TooManyRequests", "Too many requests"),
    (500, "InternalServerError", "Encountered an error (InternalServerError) from host runtime."),
    (503, "ServiceUnavailable", "Service Unavailable"),
])
def test_what_listkeys_answers_while_the_site_restarts_is_not_ready_yet(fake_arm, host, status, code, message):
    fault = fake_arm.fail("POST", KEYS, status, code=code, message=message, times=5)
    report = look(fake_arm, host)
    assert not report.ready and not report.key_read
    assert f"HTTP {status} {code}" in report.detail, report.detail
    fault.times = 0
    assert look(fake_arm, host).ready  # the next look, once ARM answers, finds it up


@pytest.mark.parametrize("status, code, message", [
    (409, "Conflict", OPERATION_IN_PROGRESS),
    (400, "BadRequest", HOST_RUNTIME_ERROR),
    (502, "BadGateway", "Bad Gateway"),
])
def test_a_refused_trigger_sync_is_tried_again_at_the_next_look(fake_arm, host, status, code, message):
    fault = fake_arm.fail("POST", SYNC, status, code=code, message=message, times=5)
    report = look(fake_arm, host)
    assert not report.ready and report.key_read and not report.triggers_synced
    assert "sync triggers" in report.detail and str(status) in report.detail
    fault.times = 0
    again = look(fake_arm, host)
    assert again.ready and again.triggers_synced


def test_a_host_that_started_before_the_package_was_set_is_not_the_one_serving_it(fake_arm, host):
    deployed_at = datetime.now(timezone.utc)
    host.started = deployed_at - timedelta(seconds=30)
    report = look(fake_arm, host, deployed_at=deployed_at.isoformat())
    assert not report.ready and "has not restarted with it yet" in report.detail
    assert not any(c[1].endswith(SYNC) for c in fake_arm.calls())  # no sync into a restart
    host.started = deployed_at + timedelta(seconds=1)
    assert look(fake_arm, host, deployed_at=deployed_at.isoformat()).ready


def test_a_host_whose_functions_cannot_load_fails_for_good_naming_python_packages(fake_arm, host):
    host.state, host.functions = "Error", []
    host.errors = ["importing function_app.py failed: ModuleNotFoundError: No module named 'azure.durable_functions'"]
    with pytest.raises(PackageError) as failed:
        look(fake_arm, host)
    assert "No module named 'azure.durable_functions'" in failed.value.message
    assert ".python_packages/lib/site-packages" in failed.value.message


@pytest.mark.parametrize("change, expected", [
    (dict(state="Starting"), "the host is Starting"),
    (dict(functions=[("ship", "activityTrigger")]), "indexed no orchestrator function yet"),
    (dict(durable_status=503), "Durable HTTP API answered HTTP 503"),
    (dict(state="Error", errors=["Storage account connection string is invalid"]), "Storage account"),
])
def test_a_host_not_yet_serving_says_why(fake_arm, host, change, expected):
    for name, value in change.items():
        setattr(host, name, value)
    report = look(fake_arm, host)
    assert not report.ready and expected in report.detail, report.detail


def test_a_running_host_without_the_durable_system_key_yet_is_not_ready(fake_arm, host):
    fake_arm.add_site("lane-app", tags={})
    fake_arm.host_keys["lane-app"]["systemKeys"] = {}
    report = look(fake_arm, host)
    assert not report.ready and not report.key_read
    assert "no durabletask_extension system key yet" in report.detail


def test_keys_never_reach_a_readiness_report(fake_arm, host):
    host.durable_status = 401
    report = look(fake_arm, host)
    keys = fake_arm.host_keys["lane-app"]
    assert keys["masterKey"] not in report.detail
    assert keys["systemKeys"]["durabletask_extension"] not in report.detail


# --- the pure rules -----------------------------------------------------------------------------

def test_serving_since_compares_the_host_start_with_the_deploy_on_utc():
    now = datetime(2026, 12, 1, 12, 0, 10, tzinfo=timezone.utc)
    status = HostStatus("Running", 5_000, ())  # started 12:00:05
    assert serving_since(status, "2026-12-01T12:00:00+00:00", now) is None
    assert serving_since(status, "2026-12-01T12:00:00", now) is None  # a naive orchestration time is UTC
    assert "has not restarted" in (serving_since(status, "2026-12-01T12:00:07+00:00", now) or "")
    assert serving_since(status, "", now) is None  # the package did not change
    assert "uptime" in (serving_since(HostStatus("Running", None, ()), "2026-12-01T12:00:00", now) or "")


def test_only_orchestration_triggers_count_as_orchestrators():
    listed = [{"name": "b", "config": {"bindings": [{"type": "orchestrationTrigger"}]}},
              {"name": "a", "config": {"bindings": [{"type": "httpTrigger"}, {"type": "durableClient"}]}},
              {"name": "c", "config": {}}, "junk"]
    assert orchestrators(listed) == ["b"]
    assert orchestrators({"not": "a list"}) == []


def test_only_import_and_indexing_errors_are_load_failures():
    assert load_failure(HostStatus("Error", 1, ("Worker failed to index functions",))) is not None
    assert load_failure(HostStatus("Error", 1, ("The host has not yet started",))) is None


# --- against the fake App Service, real hosts ------------------------------------------------

@pytest.fixture(scope="module")
def app_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAppService]:
    with serve_fake_app_service(tmp_path_factory.mktemp("app-service"), plans={"plan": "P1v3"},
                                restart_seconds=0.3) as fake:
        yield fake


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, app_service: FakeAppService) -> dict[str, str]:
    """SAS URLs of sample 1.0.0, 1.0.1 and a copy of 1.0.0 without its .python_packages."""
    import io
    import zipfile

    from samples.build import build_package

    out = tmp_path_factory.mktemp("packages")
    urls = {}
    for version in ("1.0.0", "1.0.1"):
        data = build_package(version, out).read_bytes()
        app_service.blobs.put("packages", f"{version}.zip", data)
        urls[version] = app_service.blobs.sas_url("packages", f"{version}.zip")
    stripped = io.BytesIO()
    with zipfile.ZipFile(out / "sample-1.0.0.zip") as full, zipfile.ZipFile(stripped, "w") as bare:
        for item in full.infolist():
            if not item.filename.startswith(".python_packages/"):
                bare.writestr(item, full.read(item))
    app_service.blobs.put("packages", "bare.zip", stripped.getvalue())
    urls["bare"] = app_service.blobs.sas_url("packages", "bare.zip")
    return urls


def _site(app_service: FakeAppService, settings: dict[str, str]) -> AppRef:
    """A function app made as the backend makes one (every setting the host needs)."""
    import httpx as http

    name = f"ready-{uuid.uuid4().hex[:8]}"
    values = {"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=lanes;AccountKey=a2V5",
              "FUNCTIONS_EXTENSION_VERSION": "~4", "FUNCTIONS_WORKER_RUNTIME": "python",
              "AzureFunctionsJobHost__extensions__durableTask__hubName": "Lane1v0", **settings}
    body = {"location": "westeurope", "kind": "functionapp,linux",
            "properties": {"serverFarmId": app_service.plan_id("plan"), "reserved": True,
                           "siteConfig": {"linuxFxVersion": "Python|3.11", "alwaysOn": True,
                                          "appSettings": [{"name": k, "value": v} for k, v in values.items()]}}}
    url = (f"{app_service.base_url}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/{name}"
           "?api-version=2025-05-01")
    trust = ssl.create_default_context(cafile=str(app_service.ca_path))
    with http.Client(verify=trust, headers={"Authorization": "Bearer t"}, trust_env=False) as c:
        assert c.put(url, json=body).status_code in (200, 201, 202)
    site = app_service.sites[name]
    return AppRef(name, f"https://{site['properties']['defaultHostName']}", site["id"])


def _until_ready(app_service: FakeAppService, app: AppRef, package_url: str) -> list[Readiness]:
    """Deploy, then look as the lifecycle does (here every 0.1 s) until ready; every look."""

    async def main() -> list[Readiness]:
        config = make_config(app_service, plan_id=app_service.plan_id("plan"), retry_total=1,
                             allowed_package_hosts=("127.0.0.1",))
        backend = AzureLaneBackend(config, StaticTokenCredential(), connection_verify=str(app_service.ca_path))
        try:
            before = datetime.now(timezone.utc).isoformat()
            await backend.deploy_package(lane_spec("1.0", "1.0.0"), app, Package(package_url))
            looks: list[Readiness] = []
            synced = False
            for _ in range(300):
                looks.append(await backend.check_readiness(app, deployed_at=before, triggers_synced=synced))
                synced = looks[-1].triggers_synced
                if looks[-1].ready:
                    return looks
                await asyncio.sleep(0.1)
            raise AssertionError(f"never ready: {looks[-1].detail}")
        finally:
            await backend.aclose()

    return asyncio.run(main())


@pytest.mark.e2e
def test_a_real_host_is_ready_only_once_it_restarted_with_the_package_and_a_patch_likewise(app_service, packages):
    app = _site(app_service, {})
    looks = _until_ready(app_service, app, packages["1.0.0"])
    assert not looks[0].ready  # the site restarts after the package is set: never ready at once
    assert "orchestrator(s) indexed" in looks[-1].detail
    syncs = [r for r in app_service.requests if r.method == "POST" and r.path.lower().endswith(
        f"/sites/{app.name}{SYNC}")]
    assert [r.status for r in syncs if r.status < 300] and len([r for r in syncs if r.status < 300]) == 1
    restarts = app_service.runtime(app.name).restarts
    patched = _until_ready(app_service, app, packages["1.0.1"])
    assert not patched[0].ready and app_service.runtime(app.name).restarts == restarts + 1


@pytest.mark.e2e
def test_a_real_host_without_python_packages_fails_naming_them(app_service, packages):
    app = _site(app_service, {})
    with pytest.raises(PackageError) as failed:
        _until_ready(app_service, app, packages["bare"])
    assert ".python_packages" in failed.value.message and "ModuleNotFoundError" in failed.value.message
