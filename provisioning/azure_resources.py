"""The desired state of a lane's Azure function app, as plain JSON-ready data (pure).

The backend sends exactly this to ARM, and `python -m provisioning plan` prints it, so the dry
run cannot drift from what is really created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.azure_config import AzureConfig
from provisioning.base import LaneSpec
from provisioning.naming import lane_app_name

MANAGED_BY = "durable-app-router"
TAG_MANAGED_BY = "managed-by"
TAG_LANE = "lane"
TAG_VERSION = "version"
APP_KIND = "functionapp,linux"

RUN_FROM_PACKAGE = "WEBSITE_RUN_FROM_PACKAGE"
HUB_NAME_SETTING = "AzureFunctionsJobHost__extensions__durableTask__hubName"
_PROVIDER = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
TRACKING_CONNECTION_SETTING = _PROVIDER + "trackingStoreConnectionStringName"
TRACKING_PREFIX_SETTING = _PROVIDER + "trackingStoreNamePrefix"


def app_name(config: AzureConfig, lane: str) -> str:
    return lane_app_name(config.app_prefix, lane, config.scope)


def app_tags(lane: LaneSpec) -> dict[str, str]:
    return {TAG_MANAGED_BY: MANAGED_BY, TAG_LANE: lane.lane, TAG_VERSION: lane.version}


def is_lane_app(tags: Mapping[str, str] | None, lane: str) -> bool:
    """Whether an existing app with the lane's name is really this router's app for `lane`."""
    tags = tags or {}
    return tags.get(TAG_MANAGED_BY) == MANAGED_BY and tags.get(TAG_LANE) == lane


def site_envelope(config: AzureConfig, lane: LaneSpec) -> dict[str, Any]:
    """The body of the site PUT: a Linux Python function app on the configured plan."""
    return {
        "location": config.location,
        "kind": APP_KIND,
        "tags": app_tags(lane),
        # A system identity so identity-based storage connections can be granted to the app.
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "serverFarmId": config.plan_id,
            "reserved": True,  # Linux
            "httpsOnly": True,
            "siteConfig": {
                "linuxFxVersion": f"Python|{config.python_version}",
                "minTlsVersion": "1.2",
                "ftpsState": "Disabled",
            },
        },
    }


def lane_app_settings(config: AzureConfig, lane: LaneSpec) -> dict[str, str]:
    """The settings the backend owns on a lane's app (others on the app are left alone)."""
    settings = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        # The lane's own task hub: own queues, own history, no cross-version replay.
        HUB_NAME_SETTING: lane.task_hub,
    }
    if config.lane_storage_account:
        settings["AzureWebJobsStorage__accountName"] = config.lane_storage_account
    store = config.tracking_store
    if store is not None:
        settings[TRACKING_CONNECTION_SETTING] = store.connection_name
        if store.name_prefix:
            settings[TRACKING_PREFIX_SETTING] = store.name_prefix
    return settings


def merged_settings(existing: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str] | None:
    """`existing` updated with `wanted`, or None when nothing would change (skip the write).

    Settings the backend does not own (WEBSITE_RUN_FROM_PACKAGE, operator additions) survive.
    """
    if all(existing.get(key) == value for key, value in wanted.items()):
        return None
    return {**existing, **wanted}
