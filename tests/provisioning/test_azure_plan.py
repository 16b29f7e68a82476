"""`python -m provisioning plan`: the Azure backend's dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.__main__ import main
from provisioning.azure_config import AzureConfig
from provisioning.config import TrackingStore
from provisioning.azure_resources import app_name

REPO = Path(__file__).resolve().parents[2]
ENV = {
    "ROUTER_APP_PREFIX": "shop",
    "ROUTER_SUBSCRIPTION_ID": "0000-sub",
    "ROUTER_RESOURCE_GROUP": "shop-rg",
    "ROUTER_LOCATION": "northeurope",
    "ROUTER_PLAN_ID": "/subscriptions/0000-sub/resourceGroups/shop-rg/providers/Microsoft.Web/serverfarms/ep1",
    "ROUTER_LANE_STORAGE_ACCOUNT": "shoplanes",
    "ROUTER_TRACKING_STORE_CONNECTION_NAME": "Tracking",
    "ROUTER_TRACKING_STORE_NAME_PREFIX": "Shop",
}


def test_plan_runs_without_credentials_as_a_command() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **ENV}

    done = subprocess.run(
        [sys.executable, "-m", "provisioning", "plan", "--lane", "1.2", "--version", "1.2.0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    plan = json.loads(done.stdout)

    config = AzureConfig(
        "0000-sub",
        "shop-rg",
        "northeurope",
        ENV["ROUTER_PLAN_ID"],
        app_prefix="shop",
        lane_storage_account="shoplanes",
        tracking_store=TrackingStore("Tracking", "Shop"),
    )
    # The name the real backend would use for these settings, not a guess.
    assert plan["app"]["name"] == app_name(config, "1.2")
    assert plan["placeholders"] == []
    assert plan["site"]["kind"] == "functionapp,linux"
    assert plan["site"]["location"] == "northeurope"
    assert plan["site"]["properties"]["serverFarmId"] == ENV["ROUTER_PLAN_ID"]
    assert plan["site"]["tags"] == {"managed-by": "durable-app-router", "lane": "1.2", "version": "1.2.0"}
    assert plan["appSettings"] == {
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "Lane1v2",
        "AzureFunctionsJobHost__extensions__durableTask__storageProvider__trackingStoreConnectionStringName": "Tracking",
        "AzureFunctionsJobHost__extensions__durableTask__storageProvider__trackingStoreNamePrefix": "Shop",
        "AzureWebJobsStorage__accountName": "shoplanes",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "WEBSITE_RUN_FROM_PACKAGE": "<package URL, set at deploy>",
    }


def test_plan_uses_placeholders_and_hides_a_sas_token(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--version", "v2.5", "--package-url", "https://st.example/p.zip?sig=secret"]

    assert main(argv, env={}) == 0

    plan = json.loads(capsys.readouterr().out)
    assert plan["lane"] == "2.5" and plan["version"] == "2.5.0"
    assert plan["placeholders"] == [
        "ROUTER_SUBSCRIPTION_ID",
        "ROUTER_RESOURCE_GROUP",
        "ROUTER_LOCATION",
        "ROUTER_PLAN_ID",
    ]
    assert plan["site"]["location"] == "<location>"
    assert plan["app"]["name"].startswith("dfrouter-2-5-")
    assert plan["appSettings"]["WEBSITE_RUN_FROM_PACKAGE"] == "https://st.example/p.zip?<query hidden>"
    assert "secret" not in json.dumps(plan)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["plan", "--lane", "1.3", "--version", "1.2.0"], {}, "does not belong to lane 1.3"),
        (["plan", "--version", "one"], {}, "'one'"),
        (["plan", "--version", "1.2.0"], {"ROUTER_APP_PREFIX": "-bad"}, "ROUTER_APP_PREFIX"),
    ],
)
def test_plan_rejects_bad_input(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env=env) == 2
    assert message in capsys.readouterr().err
