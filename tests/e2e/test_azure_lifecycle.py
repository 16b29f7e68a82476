"""What the router asks of Azure for a lane, end to end: the router process with
ROUTER_PROVISIONER=azure against the fake App Service (tests/e2e/azure_app_service_support.py),
lanes on real hosts. The seed scenario per plan kind is tests/e2e/test_azure_app_service.py; this
module checks the requests and settings a lane's life leaves in ARM, that the durable system key
never leaves the router, that a forced retire deletes the app, and a lane whose task hub lives in
a Durable Task Scheduler (created with the lane, deleted with it).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.azure_app_service_support import (  # noqa: F401 - app_service and packages are fixtures
    LANE_IDENTITY,
    app_service,
    azure_router,
    packages,
    release,
    site_of,
)
from tests.fakes.identities import client_id_of

pytestmark = pytest.mark.e2e

SCHEDULER = "lanes-dts"
SCHEDULER_ID = f"/subscriptions/sub/resourceGroups/rg/providers/Microsoft.DurableTask/schedulers/{SCHEDULER}"
HUB = "AzureFunctionsJobHost__extensions__durableTask__hubName"


def test_a_release_creates_deploys_and_activates_an_app_with_every_setting_at_creation(app_service, packages, tmp_path):
    with azure_router(app_service, tmp_path / "router", "plan-p1", ROUTER_ID="orders") as router:
        release(router, "1.0.0", packages["1.0.0"])
        lane = router.version_map()["lanes"]["1.0"]
        site = site_of(router, "1.0")

    assert lane["state"] == "active"
    calls = [(r.method, r.path.lower()) for r in app_service.requests if f"/sites/{site}" in r.path.lower()]
    steps = [("PUT", ""), ("PUT", "/config/appsettings"), ("POST", "/host/default/listkeys"),
             ("POST", "/syncfunctiontriggers")]
    positions = [next(i for i, (method, path) in enumerate(calls) if method == want and path.endswith(f"{site}{tail}"))
                 for want, tail in steps]
    assert positions == sorted(positions), calls  # created, deployed, keys read, triggers synced
    create = next(r.body for r in app_service.requests if r.method == "PUT" and r.path.lower().endswith(f"/sites/{site}"))
    listed = {item["name"]: item["value"] for item in create["properties"]["siteConfig"]["appSettings"]}
    assert listed[HUB] == "ordersLane1v0"  # the router's id starts its lanes' hubs
    assert {"AzureWebJobsStorage", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME"} <= set(listed)
    assert create["properties"]["siteConfig"]["alwaysOn"] is True  # P1v3: Dedicated
    assert set(create["identity"]["userAssignedIdentities"]) == {LANE_IDENTITY}


def test_the_router_never_shows_the_azure_system_key(app_service, packages, tmp_path):
    with azure_router(app_service, tmp_path / "router", "plan-y1") as router:
        release(router, "1.0.0", packages["1.0.0"])
        keys = app_service.runtime(site_of(router, "1.0")).keys() or {}
        secrets = [keys.get("masterKey"), *(keys.get("systemKeys") or {}).values()]
        assert all(secrets) and len(secrets) == 2
        text = json.dumps(router.version_map()) + router.host.output()
        for secret in secrets:
            assert secret not in text


def test_a_forced_retire_deletes_the_azure_app(app_service, packages, tmp_path):
    with azure_router(app_service, tmp_path / "router", "plan-p1") as router:
        release(router, "1.0.0", packages["1.0.0"])
        release(router, "1.1.0", packages["1.1.0"])
        site = site_of(router, "1.0")
        retire = router.admin_post("/api/lanes/1.0/retire", force="true")
        assert retire.status_code == 202, retire.text
        vmap = router.wait_lane_state("1.0", "deleted", deadline=120)

    assert vmap["lanes"]["1.0"]["app_exists"] is False
    deletes = [r.path.lower() for r in app_service.requests if r.method == "DELETE"]
    assert any(path.endswith(f"/sites/{site}") for path in deletes), deletes
    assert site not in app_service.sites
    assert vmap["lanes"]["1.1"]["state"] == "active"


def test_a_lane_on_a_durable_task_scheduler_gets_its_own_task_hub_and_loses_it_with_its_app(
    app_service, packages, tmp_path
):
    """docs: durable-task-scheduler-identity (the lanes' identity holds Durable Task Data
    Contributor; the lane's settings name the scheduler's endpoint and the identity's client id)."""
    endpoint = app_service.add_scheduler(SCHEDULER)
    app_service.schedulers.grant(SCHEDULER, LANE_IDENTITY)
    client_id = client_id_of(LANE_IDENTITY)
    with azure_router(app_service, tmp_path / "router", "plan-ep", ROUTER_ID="dts",
                      ROUTER_LANE_SCHEDULER_ID=SCHEDULER_ID, ROUTER_LANE_IDENTITY_CLIENT_ID=client_id) as router:
        release(router, "1.0.0", packages["1.0.0"])
        site = site_of(router, "1.0")
        assert app_service.schedulers.task_hubs(SCHEDULER) == ["dtsLane1v0"]
        settings = app_service.app_settings[site]
        assert settings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"] == (
            f"Endpoint={endpoint};Authentication=ManagedIdentity;ClientID={client_id}"
        )
        assert settings["AzureFunctionsJobHost__extensions__durableTask__storageProvider__type"] == "azureManaged"

        release(router, "1.1.0", packages["1.1.0"])
        assert router.admin_post("/api/lanes/1.0/retire", force="true").status_code == 202
        router.wait_lane_state("1.0", "deleted", deadline=120)

    assert app_service.schedulers.task_hubs(SCHEDULER) == ["dtsLane1v1"]
