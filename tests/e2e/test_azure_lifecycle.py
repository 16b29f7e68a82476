"""The same router, with ROUTER_PROVISIONER=azure, drives the Azure backend against the fake ARM.

The router process authenticates the way it does in Azure: DefaultAzureCredential picks the App
Service managed identity (IDENTITY_ENDPOINT / IDENTITY_HEADER), served here by a local token
endpoint; it trusts the fake ARM's test CA through SSL_CERT_FILE. Lane apps on Azure cannot be
reached from here, so the lane is activated and then force-retired: every step of its lifecycle
that talks to Resource Manager runs for real.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from demo.stack import running_router
from tests.fakes.arm import serve_fake_arm
from tests.provisioning.azure_arm_plans import PlanRoutes

pytestmark = pytest.mark.e2e

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
PLAN_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/lanes/providers/Microsoft.Web/serverfarms/plan"
IDENTITY_HEADER = "identity-header-for-tests"


class _TokenHandler(BaseHTTPRequestHandler):
    """The App Service managed identity endpoint (api-version 2019-08-01)."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        query = parse_qs(urlsplit(self.path).query)
        if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            self.send_response(401)
            self.end_headers()
            return
        type(self).requests.append(query.get("resource", [""])[0])
        body = json.dumps({
            "access_token": "managed-identity-token",
            "expires_on": str(int(time.time()) + 3600),
            "resource": query.get("resource", [""])[0],
            "token_type": "Bearer",
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def managed_identity_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def azure_stack(tmp_path_factory):
    """A fake ARM, a managed identity endpoint and a router driving them: one per test (a second
    to start), so a test that retires a lane leaves nothing for the next."""
    certs = tmp_path_factory.mktemp("certs")
    with serve_fake_arm(certs) as arm, managed_identity_endpoint() as token_url:
        PlanRoutes(arm, {"plan": "P1v3"})
        settings = {
            "ROUTER_PROVISIONER": "azure",
            "ROUTER_ARM_ENDPOINT": arm.base_url,
            "ROUTER_SUBSCRIPTION_ID": SUBSCRIPTION,
            "ROUTER_RESOURCE_GROUP": "lanes",
            "ROUTER_LOCATION": "westeurope",
            "ROUTER_PLAN_ID": PLAN_ID,
            "ROUTER_APP_PREFIX": "orders",
            "ROUTER_LANE_IDENTITY_ID": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/lanes/providers/"
                                       "Microsoft.ManagedIdentity/userAssignedIdentities/lanes",
            "ROUTER_LANE_STORAGE_SECRET_URI": "https://lanes.vault.azure.net/secrets/storage",
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "builds.example.com",
            "IDENTITY_ENDPOINT": token_url,
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "SSL_CERT_FILE": str(arm.ca_path),
        }
        with running_router(settings, work_dir=tmp_path_factory.mktemp("router")) as router:
            yield router, arm


def release(router, version: str) -> None:
    response = router.post_release(version, package_url(version))
    assert response.status_code == 202, response.text
    status = router.wait_release(response.json()["id"], deadline=120)
    assert status["state"] == "completed", status


def package_url(version: str) -> str:
    return f"https://builds.example.com/orders/{version}.zip"


@pytest.fixture
def lane_1_0(azure_stack):
    """Lane 1.0 released on Azure (the fake ARM): the router, the fake ARM."""
    router, arm = azure_stack
    release(router, "1.0.0")
    return router, arm


def test_a_release_creates_configures_deploys_and_activates_an_azure_app(azure_stack):
    router, arm = azure_stack
    package = package_url("1.0.0")
    release(router, "1.0.0")
    lane = router.version_map()["lanes"]["1.0"]
    assert lane["state"] == "active"
    assert lane["app_name"].startswith("orders-1-0")
    assert lane["app_url"] == f"https://{lane['app_name']}.azurewebsites.net"

    calls = [f"{method} {tail}" for method, tail in arm.calls() if tail != "operation"]
    lifecycle = ["PUT site", "PUT site/config/appsettings", "POST site/syncfunctiontriggers",
                 "POST site/host/default/listkeys"]
    positions = [next(i for i, call in enumerate(calls) if call.lower() == step.lower()) for step in lifecycle]
    assert positions == sorted(positions), calls  # created, configured, deployed, keys read: in order
    settings = [r.body for r in arm.requests if r.method == "PUT" and r.tail == "site/config/appsettings"]
    final = settings[-1]["properties"]
    assert final["AzureFunctionsJobHost__extensions__durableTask__hubName"] == "localLane1v0"
    assert final["WEBSITE_RUN_FROM_PACKAGE"] == package
    assert final["FUNCTIONS_WORKER_RUNTIME"] == "python"
    site = arm.sites[lane["app_name"].lower()]
    assert site["tags"]["lane"] == "1.0"


def test_the_router_never_shows_the_azure_system_key(lane_1_0):
    router, arm = lane_1_0
    system_keys = [key for keys in arm.host_keys.values() for key in keys["systemKeys"].values()]
    assert system_keys
    text = json.dumps(router.version_map()) + router.host.output()
    for key in system_keys:
        assert key not in text


def test_a_forced_retire_deletes_the_azure_app(lane_1_0):
    router, arm = lane_1_0
    release(router, "1.1.0")
    app_name = router.version_map()["lanes"]["1.0"]["app_name"]
    retire = router.admin_post("/api/lanes/1.0/retire", force="true")
    assert retire.status_code == 202, retire.text
    vmap = router.wait_lane_state("1.0", "deleted", deadline=120)
    assert vmap["lanes"]["1.0"]["app_exists"] is False
    deletes = [r.path for r in arm.requests if r.method == "DELETE"]
    assert any(path.lower().endswith(f"/sites/{app_name}".lower()) for path in deletes), deletes
    assert app_name.lower() not in arm.sites
    assert vmap["lanes"]["1.1"]["state"] == "active"
