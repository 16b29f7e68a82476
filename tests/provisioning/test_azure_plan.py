"""`python -m provisioning plan`: the Azure backend's dry run, compared with what the backend
really sends to the fake ARM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioning.__main__ import main
from provisioning.azure import AzureLaneBackend
from provisioning.azure_config import AzureConfig
from provisioning.azure_plan import PlanKind
from provisioning.azure_plan_requests import lane_requests
from provisioning.azure_resources import app_name
from provisioning.base import Package
from tests.fakes.arm import FakeArm
from tests.provisioning.azure_support import (
    CLIENT_ID,
    IDENTITY_ID,
    SCHEDULER_ID,
    lane_spec,
    make_config,
    plan_id,
    run,
)

REPO = Path(__file__).resolve().parents[2]
ENV = {
    "ROUTER_APP_PREFIX": "shop",
    "ROUTER_ID": "shopProd",
    "ROUTER_SUBSCRIPTION_ID": "0000-sub",
    "ROUTER_RESOURCE_GROUP": "shop-rg",
    "ROUTER_LOCATION": "northeurope",
    "ROUTER_PLAN_ID": "/subscriptions/0000-sub/resourceGroups/shop-rg/providers/Microsoft.Web/serverfarms/ep1",
    "ROUTER_LANE_IDENTITY_ID": IDENTITY_ID,
    "ROUTER_LANE_IDENTITY_CLIENT_ID": CLIENT_ID,
    "ROUTER_LANE_STORAGE_ACCOUNT": "shoplanes",
    "ROUTER_LANE_CONTENT_SECRET_URI": "https://shop.vault.azure.net/secrets/content",
}


def test_plan_runs_without_credentials_as_a_command() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **ENV}

    done = subprocess.run(
        [sys.executable, "-m", "provisioning", "plan", "--lane", "1.2", "--version", "1.2.0",
         "--plan-sku", "EP1", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    plan = json.loads(done.stdout)

    config = AzureConfig("0000-sub", "shop-rg", "northeurope", ENV["ROUTER_PLAN_ID"], app_prefix="shop")
    # The name the real backend would use for these settings, not a guess.
    assert plan["app"]["name"] == app_name(config, "1.2")
    assert plan["placeholders"] == []
    assert (plan["taskHub"], plan["plan"]) == ("shopProdLane1v2", {"sku": "EP1", "kind": "ElasticPremium"})
    put_site = next(r for r in plan["requests"] if r["method"] == "PUT" and r["path"].endswith(plan["app"]["name"]))
    assert put_site["apiVersion"] == "2025-05-01"
    site = put_site["body"]
    assert site["kind"] == "functionapp,linux" and site["location"] == "northeurope"
    assert site["properties"]["serverFarmId"] == ENV["ROUTER_PLAN_ID"]
    settings = {item["name"]: item["value"] for item in site["properties"]["siteConfig"]["appSettings"]}
    assert settings == {
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "shopProdLane1v2",
        "AzureWebJobsStorage__accountName": "shoplanes",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
        "AzureWebJobsStorage__credential": "managedidentity",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "@Microsoft.KeyVault(SecretUri=https://shop.vault.azure.net/secrets/content)",
        "WEBSITE_CONTENTSHARE": plan["app"]["name"],
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "1",
    }
    assert [r["step"] for r in plan["requests"]][:1] == ["create"]
    assert plan["requests"][-1]["method"] == "DELETE" and plan["requests"][-1]["query"] == "deleteEmptyServerFarm=false"


def test_the_text_plan_lists_each_request_for_a_reader(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--version", "1.2.0", "--plan-sku", "P1v3"], env=ENV) == 0

    text = capsys.readouterr().out
    assert text.startswith("Lane 1.2 (version 1.2.0) on plan SKU P1v3 (Dedicated)")
    assert "  PUT    https://management.azure.com/subscriptions/0000-sub/resourceGroups/shop-rg/providers/" in text
    assert '"alwaysOn": true' in text
    assert "/syncfunctiontriggers?api-version=2025-05-01" in text


def test_plan_uses_placeholders_and_hides_a_sas_token(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--version", "v2.5", "--plan-sku", "Y1", "--json", "--package-url",
            "https://st.example/p.zip?sig=secret"]

    assert main(argv, env={}) == 0

    plan = json.loads(capsys.readouterr().out)
    assert plan["lane"] == "2.5" and plan["version"] == "2.5.0" and plan["taskHub"] == "localLane2v5"
    assert plan["placeholders"] == [
        "ROUTER_SUBSCRIPTION_ID",
        "ROUTER_RESOURCE_GROUP",
        "ROUTER_LOCATION",
        "ROUTER_PLAN_ID",
        "ROUTER_LANE_IDENTITY_ID",
        "ROUTER_LANE_STORAGE_ACCOUNT",
        "ROUTER_LANE_IDENTITY_CLIENT_ID",
    ]
    assert plan["app"]["name"].startswith("dfrouter-2-5-")
    deploy = next(r for r in plan["requests"] if r["step"] == "deploy" and r["method"] == "PUT")
    assert deploy["body"]["properties"]["WEBSITE_RUN_FROM_PACKAGE"] == "https://st.example/p.zip?<query hidden>"
    assert "secret" not in json.dumps(plan)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["plan", "--lane", "1.3", "--version", "1.2.0", "--plan-sku", "Y1"], {}, "does not belong to lane 1.3"),
        (["plan", "--version", "one", "--plan-sku", "Y1"], {}, "'one'"),
        (["plan", "--version", "1.2.0", "--plan-sku", "Y1"], {"ROUTER_APP_PREFIX": "-bad"}, "ROUTER_APP_PREFIX"),
        (["plan", "--version", "1.2.0", "--plan-sku", "FC1"], {}, "Flex Consumption (FC1)"),
        (["plan", "--version", "1.2.0", "--plan-sku", "EP1"], {}, "ROUTER_LANE_CONTENT_SECRET_URI"),
    ],
)
def test_plan_rejects_bad_input(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env=env) == 2
    assert message in capsys.readouterr().err


# --- the plan is what the backend sends --------------------------------------------------------

PACKAGE_URL = "https://builds.blob.core.windows.net/pkgs/app-1.2.0.zip"  # no SAS: read with the lanes' identity


async def lane_through_its_life(backend: AzureLaneBackend) -> None:
    lane = lane_spec()
    app = await backend.create_app(lane)
    await backend.configure_app(lane, app)
    await backend.deploy_package(lane, app, Package(PACKAGE_URL))
    await backend.delete_app(app)


def _sent(arm: FakeArm) -> list[tuple[str, str, str | None, Any]]:
    """(method, path, api-version, body) of what the backend sent, without the polls of
    long-running operations (URLs ARM hands out at the time, which the plan only notes)."""
    return [(r.method, r.path, r.api_version, r.body) for r in arm.requests
            if r.tail != "operation" and not r.path.startswith("/fake-")]


@pytest.mark.parametrize(
    ("plan", "kind", "overrides"),
    [
        ("lanes-y1", PlanKind.CONSUMPTION, {"lane_storage_account": "lanestore"}),
        ("lanes-ep1", PlanKind.ELASTIC_PREMIUM,
         {"lane_storage_secret_uri": "https://lanes.vault.azure.net/secrets/storage"}),
        ("lanes", PlanKind.DEDICATED, {"lane_storage_account": "lanestore", "scheduler_id": SCHEDULER_ID}),
    ],
)
def test_the_plan_is_exactly_what_the_backend_sends(
    fake_arm: FakeArm, arm_plans: Any, plan: str, kind: PlanKind, overrides: dict[str, Any]
) -> None:
    fields = dict(plan_id=plan_id(plan), lane_identity_id=IDENTITY_ID, lane_identity_client_id=CLIENT_ID,
                  app_prefix="planned", allowed_package_hosts=("*.blob.core.windows.net",), **overrides)
    run(fake_arm, lane_through_its_life, **fields)
    sent = _sent(fake_arm)

    config = make_config(fake_arm, **fields)
    endpoint = next(iter(arm_plans.schedulers.values())) if "scheduler_id" in overrides else ""
    planned = lane_requests(config, lane_spec(), kind, package_url=PACKAGE_URL, scheduler_endpoint=endpoint)
    # The plan lists every request the backend may send; on a fresh lane the configure write is
    # skipped (the create set every setting) and readiness is another engineer's loop.
    expected = [
        (r.method, r.path, r.api_version, r.body)
        for r in planned
        if r.step not in ("ready",) and not (r.step == "configure" and r.method == "PUT")
    ]
    assert sent == expected
    deployed = [body for method, path, _, body in sent if method == "PUT" and path.endswith("/appsettings")][-1]
    assert deployed["properties"]["WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"] == IDENTITY_ID
    if "scheduler_id" in overrides:  # the lane's task hub came and went with it
        assert ("PUT", f"{SCHEDULER_ID}/taskHubs/Lane1v2") in [(m, p) for m, p, _, _ in sent]
        assert arm_plans.task_hubs["lanes-dts"] == set()
