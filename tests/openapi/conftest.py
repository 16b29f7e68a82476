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

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
# Each security scheme of docs/openapi.yaml and its role's key, chosen before the router starts:
# schemathesis takes them when the tests are collected.
SCHEME_KEYS = {scheme: secrets.token_urlsafe(32) for scheme in ("clientKey", "releaseKey", "adminKey")}
ROUTER_KEYS = {
    "ROUTER_CLIENT_KEYS": SCHEME_KEYS["clientKey"],
    "ROUTER_RELEASE_KEYS": SCHEME_KEYS["releaseKey"],
    "ROUTER_ADMIN_KEYS": SCHEME_KEYS["adminKey"],
}


@pytest.fixture(scope="module")
def live_router(tmp_path_factory) -> RouterClient:
    work = tmp_path_factory.mktemp("openapi")
    package = build_package(VERSIONS[0], work)
    with running_router(ROUTER_KEYS, work_dir=work / "router", enable_auth=True) as router:
        release(router, VERSIONS[0], package)
        yield router
