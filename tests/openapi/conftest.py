"""A live router for the OpenAPI contract: the dev host with the local provisioner (keys on, as
on Azure) and lane 1.0 released from samples/, so a start reaches a real lane."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from demo.router_client import RouterClient
from demo.stack import running_router
from samples.build import VERSIONS, build_package
from tests.e2e.conftest import release

# Each security scheme of docs/openapi.yaml and its role's key: the routers here are started with
# them (the ROUTER_*_KEYS settings), and each request carries the key its operation's scheme names.
SCHEME_KEYS = {scheme: secrets.token_urlsafe(32) for scheme in ("clientKey", "releaseKey", "adminKey")}
ROUTER_KEYS = {
    "ROUTER_CLIENT_KEYS": SCHEME_KEYS["clientKey"],
    "ROUTER_RELEASE_KEYS": SCHEME_KEYS["releaseKey"],
    "ROUTER_ADMIN_KEYS": SCHEME_KEYS["adminKey"],
}


@pytest.fixture(scope="session")
def sample_packages(tmp_path_factory) -> dict[str, Path]:
    """Lanes 1.0 and 1.1 of samples/, zipped once for every router of these tests."""
    out = tmp_path_factory.mktemp("openapi-packages")
    return {version: build_package(version, out) for version in (VERSIONS[0], VERSIONS[2])}


@pytest.fixture(scope="module")
def live_router(tmp_path_factory, sample_packages) -> RouterClient:
    work = tmp_path_factory.mktemp("openapi")
    package = sample_packages[VERSIONS[0]]
    with running_router(ROUTER_KEYS, work_dir=work / "router", enable_auth=True) as router:
        router.release_id = release(router, VERSIONS[0], package)["id"]  # type: ignore[attr-defined]
        router.package = package  # type: ignore[attr-defined]
        yield router
