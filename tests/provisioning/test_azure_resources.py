"""The desired site and app settings of a lane app, per plan kind (pure data).

Sources: MicrosoftDocs/azure-docs articles/azure-functions/functions-app-settings.md (required
settings; WEBSITE_CONTENTAZUREFILECONNECTIONSTRING / WEBSITE_CONTENTSHARE for Elastic Premium;
WEBSITE_SKIP_CONTENTSHARE_VALIDATION with a Key Vault reference), functions-reference.md
"Connecting to host storage with an identity" (`__accountName`, `__credential`, `__clientId`, and
the `__blobServiceUri`-style names for other clouds), app-service-key-vault-references.md
(`@Microsoft.KeyVault(SecretUri=...)`, `keyVaultReferenceIdentity`),
run-functions-from-deployment-package.md (WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID),
durable/durable-task-scheduler/durable-task-scheduler-identity.md (`azureManaged`,
`Endpoint=...;Authentication=ManagedIdentity;ClientID=...`), dedicated-plan.md (Always On).
"""

from __future__ import annotations

import pytest

from provisioning.azure_config import AzureConfig, cloud_of
from provisioning.azure_plan import PlanKind, needs_always_on, plan_kind, plan_refusal
from provisioning.azure_resources import (
    content_share_problem,
    is_lane_app,
    lane_app_settings,
    merged_settings,
    package_settings,
    site_envelope,
)
from provisioning.base import LaneSpec
from provisioning.config import ProvisioningConfig

LANE = LaneSpec("1.2", "1.2.3", "prodLane1v2")
HUB = "AzureFunctionsJobHost__extensions__durableTask__hubName"
PROVIDER = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
BASE = {"FUNCTIONS_WORKER_RUNTIME": "python", "FUNCTIONS_EXTENSION_VERSION": "~4", HUB: "prodLane1v2"}
IDENTITY = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/lanes"
CLIENT_ID = "6f1c1a2e-0000-4000-8000-0000000000c1"
SECRET = "https://vault.vault.azure.net/secrets/lanes-storage"
SCHEDULER = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.DurableTask/schedulers/lanes"
ENDPOINT = "https://lanes-abcd.westeurope.durabletask.io"
IDENTITY_STORAGE = {
    "AzureWebJobsStorage__accountName": "lanes",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": CLIENT_ID,
}


def config(**overrides: object) -> AzureConfig:
    fields: dict[str, object] = {"lane_identity_id": IDENTITY, "lane_identity_client_id": CLIENT_ID}
    fields.update(overrides)
    return AzureConfig("sub", "rg", "westeurope", "/plan/id", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sku", "tier", "kind"),
    [
        ("Y1", "Dynamic", PlanKind.CONSUMPTION),
        ("EP1", "ElasticPremium", PlanKind.ELASTIC_PREMIUM),
        ("EP3", "", PlanKind.ELASTIC_PREMIUM),
        ("P1v3", "PremiumV3", PlanKind.DEDICATED),
        ("B1", "Basic", PlanKind.DEDICATED),
        ("S1", "Standard", PlanKind.DEDICATED),
        ("FC1", "FlexConsumption", PlanKind.FLEX_CONSUMPTION),
        ("fc1", "", PlanKind.FLEX_CONSUMPTION),
    ],
)
def test_plan_kind_from_the_sku(sku: str, tier: str, kind: PlanKind) -> None:
    assert plan_kind(sku, tier) is kind


def test_flex_consumption_is_refused_naming_the_plan_and_why() -> None:
    refusal = plan_refusal(PlanKind.FLEX_CONSUMPTION, "lanes-fc1")
    assert refusal is not None
    assert "'lanes-fc1'" in refusal and "Flex Consumption" in refusal
    assert "functionAppConfig" in refusal and "WEBSITE_RUN_FROM_PACKAGE" in refusal and "ROUTER_PLAN_ID" in refusal
    assert all(plan_refusal(kind, "p") is None for kind in PlanKind if kind is not PlanKind.FLEX_CONSUMPTION)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"lane_storage_account": "lanes"}, {**BASE, **IDENTITY_STORAGE}),
        ({"lane_storage_secret_uri": SECRET}, {**BASE, "AzureWebJobsStorage": f"@Microsoft.KeyVault(SecretUri={SECRET})"}),
        (
            {"lane_storage_account": "lanes", "base_url": "https://management.chinacloudapi.cn"},
            {
                **BASE,
                "AzureWebJobsStorage__blobServiceUri": "https://lanes.blob.core.chinacloudapi.cn",
                "AzureWebJobsStorage__queueServiceUri": "https://lanes.queue.core.chinacloudapi.cn",
                "AzureWebJobsStorage__tableServiceUri": "https://lanes.table.core.chinacloudapi.cn",
                "AzureWebJobsStorage__credential": "managedidentity",
                "AzureWebJobsStorage__clientId": CLIENT_ID,
            },
        ),
        (
            {"lane_storage_account": "lanes", "scheduler_id": SCHEDULER},
            {
                **BASE,
                **IDENTITY_STORAGE,
                PROVIDER + "type": "azureManaged",
                PROVIDER + "connectionStringName": "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
                "DURABLE_TASK_SCHEDULER_CONNECTION_STRING": (
                    f"Endpoint={ENDPOINT};Authentication=ManagedIdentity;ClientID={CLIENT_ID}"
                ),
            },
        ),
    ],
)
def test_lane_app_settings(overrides: dict[str, object], expected: dict[str, str]) -> None:
    assert lane_app_settings(config(**overrides), LANE, PlanKind.DEDICATED, ENDPOINT) == expected


def test_every_kind_gets_the_required_settings_in_the_create_body() -> None:
    for kind in (PlanKind.CONSUMPTION, PlanKind.ELASTIC_PREMIUM, PlanKind.DEDICATED):
        site = site_envelope(config(lane_storage_secret_uri=SECRET), LANE, kind)
        listed = {item["name"]: item["value"] for item in site["properties"]["siteConfig"]["appSettings"]}
        assert {"AzureWebJobsStorage", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", HUB} <= set(listed)
        assert listed == lane_app_settings(config(lane_storage_secret_uri=SECRET), LANE, kind)


def test_a_dedicated_plan_keeps_the_app_always_on_and_the_others_do_not_ask() -> None:
    for kind in PlanKind:
        site_config = site_envelope(config(lane_storage_account="lanes"), LANE, kind)["properties"]["siteConfig"]
        assert site_config.get("alwaysOn") is (True if kind is PlanKind.DEDICATED else None)
        assert needs_always_on(kind) is (kind is PlanKind.DEDICATED)


def test_elastic_premium_gets_its_content_share_at_creation() -> None:
    content = "https://vault.vault.azure.net/secrets/content"
    lanes = config(lane_storage_account="lanes", lane_content_secret_uri=content)

    site = site_envelope(lanes, LANE, PlanKind.ELASTIC_PREMIUM)

    listed = {item["name"]: item["value"] for item in site["properties"]["siteConfig"]["appSettings"]}
    assert listed["WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"] == f"@Microsoft.KeyVault(SecretUri={content})"
    assert listed["WEBSITE_CONTENTSHARE"].startswith("dfrouter-1-2-")
    assert listed["WEBSITE_SKIP_CONTENTSHARE_VALIDATION"] == "1"
    assert site["properties"]["keyVaultReferenceIdentity"] == IDENTITY
    # Linux Consumption runs from the package URL and has no content share.
    consumption = lane_app_settings(lanes, LANE, PlanKind.CONSUMPTION)
    assert "WEBSITE_CONTENTSHARE" not in consumption


def test_elastic_premium_without_a_connection_string_is_refused_naming_the_setting() -> None:
    problem = content_share_problem(config(lane_storage_account="lanes"), PlanKind.ELASTIC_PREMIUM)
    assert problem is not None and "ROUTER_LANE_CONTENT_SECRET_URI" in problem
    assert content_share_problem(config(lane_storage_secret_uri=SECRET), PlanKind.ELASTIC_PREMIUM) is None
    assert content_share_problem(config(lane_storage_account="lanes"), PlanKind.CONSUMPTION) is None


def test_site_envelope_is_a_linux_python_function_app_with_the_lanes_identity() -> None:
    site = site_envelope(config(python_version="3.12", lane_storage_account="lanes"), LANE, PlanKind.CONSUMPTION)

    assert site["kind"] == "functionapp,linux"
    assert site["tags"] == {"managed-by": "durable-app-router", "lane": "1.2", "version": "1.2.3",
                            "task-hub": "prodLane1v2"}
    assert site["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    assert site["properties"]["siteConfig"]["linuxFxVersion"] == "Python|3.12"
    assert site["properties"]["serverFarmId"] == "/plan/id"
    assert site["properties"]["reserved"] is True
    assert "keyVaultReferenceIdentity" not in site["properties"]  # no Key Vault reference to resolve


def test_a_key_vault_reference_is_resolved_with_the_lanes_identity() -> None:
    site = site_envelope(config(lane_storage_secret_uri=SECRET), LANE, PlanKind.DEDICATED)
    assert site["properties"]["keyVaultReferenceIdentity"] == IDENTITY


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://builds.blob.core.windows.net/pkgs/app-1.2.3.zip",
            {"WEBSITE_RUN_FROM_PACKAGE": "https://builds.blob.core.windows.net/pkgs/app-1.2.3.zip",
             "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": IDENTITY},
        ),
        (  # a SAS URL carries its own access: no identity needed
            "https://builds.blob.core.windows.net/pkgs/app.zip?sv=2024&sig=s",
            {"WEBSITE_RUN_FROM_PACKAGE": "https://builds.blob.core.windows.net/pkgs/app.zip?sv=2024&sig=s"},
        ),
        (  # not a blob of this cloud: no identity (and the router sends it no storage token)
            "https://builds.example.com/app.zip",
            {"WEBSITE_RUN_FROM_PACKAGE": "https://builds.example.com/app.zip"},
        ),
    ],
)
def test_package_settings_fetch_a_url_without_sas_with_the_lanes_identity(url: str, expected: dict[str, str]) -> None:
    assert package_settings(config(), url) == expected


@pytest.mark.parametrize(
    ("arm", "suffix", "scope"),
    [
        ("https://management.azure.com", "core.windows.net", "https://management.azure.com/.default"),
        ("https://management.chinacloudapi.cn", "core.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default"),
        ("https://management.usgovcloudapi.net", "core.usgovcloudapi.net",
         "https://management.usgovcloudapi.net/.default"),
    ],
)
def test_scopes_and_storage_suffixes_follow_the_arm_endpoints_cloud(arm: str, suffix: str, scope: str) -> None:
    """docs: "Azure China 21Vianet developer guide" and "Azure Government developer guide"
    (endpoint mapping tables)."""
    lanes = config(base_url=arm)
    assert (lanes.cloud.storage_suffix, lanes.arm_scope) == (suffix, scope)


def test_another_cloud_takes_its_storage_suffix_from_a_setting() -> None:
    cloud = cloud_of("https://management.local.azurestack.external", "local.azurestack.external")
    assert cloud.storage_suffix == "local.azurestack.external" and not cloud.is_public
    assert config(base_url="https://management.local.azurestack.external").arm_scope == (
        "https://management.local.azurestack.external/.default"
    )


@pytest.mark.parametrize(
    ("existing", "wanted", "merged"),
    [
        ({}, {"A": "1"}, {"A": "1"}),
        ({"A": "1"}, {"A": "1"}, None),  # nothing to write: no restart of the app
        (
            {"A": "1", "WEBSITE_RUN_FROM_PACKAGE": "u"},
            {"A": "2"},
            {"A": "2", "WEBSITE_RUN_FROM_PACKAGE": "u"},
        ),
        ({"A": "1", "B": "x"}, {"B": "x"}, None),
    ],
)
def test_merged_settings(
    existing: dict[str, str], wanted: dict[str, str], merged: dict[str, str] | None
) -> None:
    assert merged_settings(existing, wanted) == merged


@pytest.mark.parametrize(
    ("tags", "ours"),
    [
        ({"managed-by": "durable-app-router", "lane": "1.2"}, True),
        ({"managed-by": "durable-app-router", "lane": "1.3"}, False),
        ({"lane": "1.2"}, False),
        (None, False),
    ],
)
def test_is_lane_app(tags: dict[str, str] | None, ours: bool) -> None:
    assert is_lane_app(tags, "1.2") is ours


def test_azure_config_from_the_provisioning_settings() -> None:
    plan = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Web/serverfarms/p"
    config = ProvisioningConfig.from_env(
        {
            "ROUTER_PROVISIONER": "azure",
            "ROUTER_SUBSCRIPTION_ID": "sub-1",
            "ROUTER_RESOURCE_GROUP": "rg-1",
            "ROUTER_LOCATION": "northeurope",
            "ROUTER_PLAN_ID": plan,
            "ROUTER_APP_PREFIX": "orders",
            "ROUTER_LANE_IDENTITY_ID": IDENTITY,
            "ROUTER_LANE_IDENTITY_CLIENT_ID": CLIENT_ID,
            "ROUTER_LANE_STORAGE_ACCOUNT": "lanes",
            "ROUTER_LANE_SCHEDULER_ID": SCHEDULER,
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "*.blob.core.windows.net",
        }
    )

    assert AzureConfig.from_config(config) == AzureConfig(
        "sub-1",
        "rg-1",
        "northeurope",
        plan,
        app_prefix="orders",
        lane_identity_id=IDENTITY,
        lane_identity_client_id=CLIENT_ID,
        lane_storage_account="lanes",
        scheduler_id=SCHEDULER,
        allowed_package_hosts=("*.blob.core.windows.net",),
    )
