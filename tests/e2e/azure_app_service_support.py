"""The router with ROUTER_PROVISIONER=azure against the fake App Service (tests/fakes/app_service.py),
shared by the e2e tests that run it: the router signs in as on App Service (the managed identity
endpoint, IDENTITY_ENDPOINT / IDENTITY_HEADER) and trusts the fake's test CA through SSL_CERT_FILE;
lanes run on real dev hosts behind each site's HTTPS host name. No tests here."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from demo.router_client import RouterClient
from demo.stack import running_router
from samples.build import VERSIONS, build_package, package_sha256
from tests.fakes.app_service import FakeAppService, serve_fake_app_service

PLANS = {"plan-y1": "Y1", "plan-ep": "EP1", "plan-p1": "P1v3", "plan-fc": "FC1"}
RESTART_SECONDS = 0.3
IDENTITY_HEADER = "identity-header-for-tests"
LANE_IDENTITY = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/lanes"
STORAGE_SECRET = "https://lanes.vault.azure.net/secrets/lane-storage"


class _TokenHandler(BaseHTTPRequestHandler):
    """App Service's managed identity endpoint (api-version 2019-08-01) for the router."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        resource = parse_qs(urlsplit(self.path).query).get("resource", [""])[0]
        if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"access_token": "router-identity-token", "expires_on": str(int(time.time()) + 3600),
                           "resource": resource, "token_type": "Bearer"}).encode()
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def app_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAppService]:
    """One fake App Service for the module (every router gets its own app prefix), with the lanes'
    identity, its Key Vault secret (the storage connection string) and the secret's reader role."""
    with serve_fake_app_service(tmp_path_factory.mktemp("app-service"), plans=PLANS,
                                restart_seconds=RESTART_SECONDS) as fake:
        fake.add_secret(STORAGE_SECRET, "DefaultEndpointsProtocol=https;AccountName=lanes;AccountKey=a2V5")
        fake.grant_key_vault(LANE_IDENTITY)
        yield fake


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, app_service: FakeAppService) -> dict[str, tuple[str, str]]:
    """version -> (SAS URL, sha256) of every sample built as App Service runs it, and "bare": 1.0.0
    without its .python_packages (what samples/build.py shipped before issue 10)."""
    out = tmp_path_factory.mktemp("packages")
    found = {}
    for version in VERSIONS:
        path = build_package(version, out)
        app_service.blobs.put("packages", f"{version}.zip", path.read_bytes())
        found[version] = (app_service.blobs.sas_url("packages", f"{version}.zip"), package_sha256(path))
    bare = io.BytesIO()
    with zipfile.ZipFile(out / "sample-1.0.0.zip") as full, zipfile.ZipFile(bare, "w") as stripped:
        for item in full.infolist():
            if not item.filename.startswith(".python_packages/"):
                stripped.writestr(item, full.read(item))
    (out / "bare.zip").write_bytes(bare.getvalue())
    app_service.blobs.put("packages", "bare.zip", bare.getvalue())
    found["bare"] = (app_service.blobs.sas_url("packages", "bare.zip"), package_sha256(out / "bare.zip"))
    return found


@contextmanager
def azure_router(app_service: FakeAppService, work_dir: Path, plan: str, **settings: str) -> Iterator[RouterClient]:
    with managed_identity_endpoint() as token_url:
        env = {
            "ROUTER_PROVISIONER": "azure",
            "ROUTER_ARM_ENDPOINT": app_service.base_url,
            "ROUTER_SUBSCRIPTION_ID": "sub",
            "ROUTER_RESOURCE_GROUP": "rg",
            "ROUTER_LOCATION": "westeurope",
            "ROUTER_PLAN_ID": app_service.plan_id(plan),
            # Apps of one router only: the fake (and its sites) is shared by the module's tests.
            "ROUTER_APP_PREFIX": f"o{uuid.uuid4().hex[:6]}",
            "ROUTER_LANE_IDENTITY_ID": LANE_IDENTITY,
            "ROUTER_LANE_STORAGE_SECRET_URI": STORAGE_SECRET,
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "127.0.0.1",
            "IDENTITY_ENDPOINT": token_url,
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "SSL_CERT_FILE": str(app_service.ca_path),
            **settings,
        }
        with running_router(env, work_dir=work_dir) as router:
            yield router


def release(router: RouterClient, version: str, package: tuple[str, str], provision: str | None = None,
            expect: str = "completed") -> dict[str, Any]:
    response = router.post_release(version, package[0], package[1], provision)
    assert response.status_code == 202, response.text
    status = router.wait_release(response.json()["id"], deadline=120)
    assert status["state"] == expect, status
    return status


def start(router: RouterClient, version: str, order: dict[str, Any]) -> dict[str, Any]:
    response = router.start("process_order", order, version=version)
    assert response.status_code == 202, response.text
    return response.json()


def site_of(router: RouterClient, lane: str) -> str:
    return str(router.version_map()["lanes"][lane]["app_name"]).lower()
