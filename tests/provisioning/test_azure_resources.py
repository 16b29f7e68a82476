"""The desired site and app settings of a lane app (pure data)."""

from __future__ import annotations

import pytest

from provisioning.azure_config import AzureConfig
from provisioning.azure_resources import is_lane_app, lane_app_settings, merged_settings, site_envelope
from provisioning.base import LaneSpec
from provisioning.config import ProvisioningConfig, TrackingStore

LANE = LaneSpec("1.2", "1.2.3", "Lane1v2")
HUB = "AzureFunctionsJobHost__extensions__durableTask__hubName"
PROVIDER = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
BASE = {"FUNCTIONS_WORKER_RUNTIME": "python", "FUNCTIONS_EXTENSION_VERSION": "~4", HUB: "Lane1v2"}


def config(**overrides: object) -> AzureConfig:
    return AzureConfig("sub", "rg", "westeurope", "/plan/id", **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, BASE),
        ({"lane_storage_account": "lanes"}, {**BASE, "AzureWebJobsStorage__accountName": "lanes"}),
        (
            {"tracking_store": TrackingStore("Tracking")},
            {**BASE, PROVIDER + "trackingStoreConnectionStringName": "Tracking"},
        ),
        (
            {"tracking_store": TrackingStore("Tracking", "All")},
            {
                **BASE,
                PROVIDER + "trackingStoreConnectionStringName": "Tracking",
                PROVIDER + "trackingStoreNamePrefix": "All",
            },
        ),
    ],
)
def test_lane_app_settings(overrides: dict[str, object], expected: dict[str, str]) -> None:
    assert lane_app_settings(config(**overrides), LANE) == expected


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


def test_site_envelope_is_a_linux_python_function_app() -> None:
    site = site_envelope(config(python_version="3.12"), LANE)

    assert site["kind"] == "functionapp,linux"
    assert site["tags"] == {"managed-by": "durable-app-router", "lane": "1.2", "version": "1.2.3"}
    assert site["properties"]["siteConfig"]["linuxFxVersion"] == "Python|3.12"
    assert site["properties"]["serverFarmId"] == "/plan/id"


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
    config = ProvisioningConfig.from_env(
        {
            "ROUTER_PROVISIONER": "azure",
            "ROUTER_SUBSCRIPTION_ID": "sub-1",
            "ROUTER_RESOURCE_GROUP": "rg-1",
            "ROUTER_LOCATION": "northeurope",
            "ROUTER_PLAN_ID": "/plan/1",
            "ROUTER_APP_PREFIX": "orders",
            "ROUTER_LANE_STORAGE_ACCOUNT": "lanes",
            "ROUTER_TRACKING_STORE_CONNECTION_NAME": "Tracking",
            "ROUTER_TRACKING_STORE_NAME_PREFIX": "All",
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "*.blob.core.windows.net",
        }
    )

    assert AzureConfig.from_config(config) == AzureConfig(
        "sub-1",
        "rg-1",
        "northeurope",
        "/plan/1",
        app_prefix="orders",
        lane_storage_account="lanes",
        tracking_store=TrackingStore("Tracking", "All"),
        allowed_package_hosts=("*.blob.core.windows.net",),
    )
