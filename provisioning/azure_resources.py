"""The desired state of a lane's Azure function app, as plain JSON-ready data (pure).

The backend sends exactly this to ARM, and `python -m provisioning plan` prints it, so the dry
run cannot drift from what is really created. Sources for each setting: docs
"functions-app-settings", "functions-reference" (identity-based connections),
"app-service-key-vault-references", "run-functions-from-deployment-package",
"durable-task-scheduler-identity" and "durable-functions-storage-providers".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from provisioning.azure_config import AzureConfig
from provisioning.azure_plan import PlanKind, needs_always_on, needs_content_share
from provisioning.base import LaneSpec
from provisioning.config import CONTENT_SECRET_SETTING, STORAGE_SECRET_SETTING
from provisioning.naming import lane_app_name

MANAGED_BY = "durable-app-router"
TAG_MANAGED_BY = "managed-by"
TAG_LANE = "lane"
TAG_VERSION = "version"
TAG_TASK_HUB = "task-hub"  # so a delete finds the lane's scheduler task hub from the app alone
APP_KIND = "functionapp,linux"

RUN_FROM_PACKAGE = "WEBSITE_RUN_FROM_PACKAGE"
# The identity App Service fetches a package URL without a SAS with (docs: "Fetch a package from
# Azure Blob Storage using a managed identity").
RUN_FROM_PACKAGE_IDENTITY = "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"
STORAGE = "AzureWebJobsStorage"
HUB_NAME_SETTING = "AzureFunctionsJobHost__extensions__durableTask__hubName"
_PROVIDER = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
PROVIDER_TYPE_SETTING = _PROVIDER + "type"
PROVIDER_CONNECTION_NAME_SETTING = _PROVIDER + "connectionStringName"
SCHEDULER_CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
CONTENT_CONNECTION = "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"
CONTENT_SHARE = "WEBSITE_CONTENTSHARE"
# A Key Vault reference cannot be resolved when the site is created, so App Service's check of
# the content share would fail: the docs say to skip it then.
SKIP_CONTENT_VALIDATION = "WEBSITE_SKIP_CONTENTSHARE_VALIDATION"


def app_name(config: AzureConfig, lane: str) -> str:
    return lane_app_name(config.app_prefix, lane, config.scope)


def app_tags(lane: LaneSpec) -> dict[str, str]:
    return {TAG_MANAGED_BY: MANAGED_BY, TAG_LANE: lane.lane, TAG_VERSION: lane.version, TAG_TASK_HUB: lane.task_hub}


def is_lane_app(tags: Mapping[str, str] | None, lane: str) -> bool:
    """Whether an existing app with the lane's name is really this router's app for `lane`."""
    tags = tags or {}
    return tags.get(TAG_MANAGED_BY) == MANAGED_BY and tags.get(TAG_LANE) == lane


def key_vault_reference(secret_uri: str) -> str:
    """An app setting value App Service resolves from Key Vault with keyVaultReferenceIdentity."""
    return f"@Microsoft.KeyVault(SecretUri={secret_uri})"


def content_secret_uri(config: AzureConfig) -> str:
    return config.lane_content_secret_uri or config.lane_storage_secret_uri


def content_share_problem(config: AzureConfig, kind: PlanKind) -> str | None:
    """Why the lane cannot be created on this plan with these settings, or None."""
    if needs_content_share(kind) and not content_secret_uri(config):
        return (
            f"an Elastic Premium plan needs a content share, whose connection Azure Files takes only "
            f"as a connection string (no managed identity): set {CONTENT_SECRET_SETTING} (or "
            f"{STORAGE_SECRET_SETTING}) to the Key Vault secret that holds it"
        )
    return None


def site_envelope(
    config: AzureConfig, lane: LaneSpec, kind: PlanKind, scheduler_endpoint: str = ""
) -> dict[str, Any]:
    """The body of the site PUT: a Linux Python function app on the configured plan, with every
    setting the lane needs (App Service requires the storage and runtime ones at creation)."""
    settings = lane_app_settings(config, lane, kind, scheduler_endpoint)
    site_config: dict[str, Any] = {
        "linuxFxVersion": f"Python|{config.python_version}",
        "minTlsVersion": "1.2",
        "ftpsState": "Disabled",
        "appSettings": [{"name": key, "value": value} for key, value in sorted(settings.items())],
    }
    if needs_always_on(kind):
        site_config["alwaysOn"] = True
    properties: dict[str, Any] = {
        "serverFarmId": config.plan_id,
        "reserved": True,  # Linux
        "httpsOnly": True,
        "siteConfig": site_config,
    }
    body: dict[str, Any] = {"location": config.location, "kind": APP_KIND, "tags": app_tags(lane)}
    if config.lane_identity_id:
        # One user-assigned identity for every lane: the operator grants its roles once, and
        # it outlives each lane's app (a system identity would need new grants per lane).
        body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {config.lane_identity_id: {}}}
        if uses_key_vault(config, kind):
            properties["keyVaultReferenceIdentity"] = config.lane_identity_id
    body["properties"] = properties
    return body


def uses_key_vault(config: AzureConfig, kind: PlanKind) -> bool:
    return bool(config.lane_storage_secret_uri or (needs_content_share(kind) and content_secret_uri(config)))


def lane_app_settings(
    config: AzureConfig, lane: LaneSpec, kind: PlanKind, scheduler_endpoint: str = ""
) -> dict[str, str]:
    """The settings the backend owns on a lane's app (others on the app are left alone)."""
    settings = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        # The lane's own task hub: own queues, own history, no cross-version replay.
        HUB_NAME_SETTING: lane.task_hub,
        **storage_settings(config),
    }
    if needs_content_share(kind) and content_secret_uri(config):
        settings[CONTENT_CONNECTION] = key_vault_reference(content_secret_uri(config))
        settings[CONTENT_SHARE] = app_name(config, lane.lane)
        settings[SKIP_CONTENT_VALIDATION] = "1"
    if config.scheduler_id:
        settings.update(scheduler_settings(config, scheduler_endpoint))
    return settings


def storage_settings(config: AzureConfig) -> dict[str, str]:
    """AzureWebJobsStorage: identity-based with the lanes' identity, or a Key Vault reference."""
    if config.lane_storage_secret_uri:
        return {STORAGE: key_vault_reference(config.lane_storage_secret_uri)}
    if not config.lane_storage_account:
        return {}
    cloud = config.cloud
    if cloud.is_public:
        where = {f"{STORAGE}__accountName": config.lane_storage_account}
    else:
        # accountName implies the public cloud's endpoints; elsewhere each service is named.
        where = {
            f"{STORAGE}__{service}ServiceUri": f"https://{config.lane_storage_account}.{service}.{cloud.storage_suffix}"
            for service in ("blob", "queue", "table")
        }
    return {
        **where,
        f"{STORAGE}__credential": "managedidentity",
        f"{STORAGE}__clientId": config.lane_identity_client_id,
    }


def scheduler_settings(config: AzureConfig, endpoint: str) -> dict[str, str]:
    """The lane's task hub in a Durable Task Scheduler, reached with the lanes' identity."""
    return {
        PROVIDER_TYPE_SETTING: "azureManaged",
        PROVIDER_CONNECTION_NAME_SETTING: SCHEDULER_CONNECTION,
        SCHEDULER_CONNECTION: (
            f"Endpoint={endpoint};Authentication=ManagedIdentity;ClientID={config.lane_identity_client_id}"
        ),
    }


def is_blob_without_sas(config: AzureConfig, url: str) -> bool:
    """Whether `url` is a blob of this cloud's storage with no SAS: read with an identity. Only
    then: a storage token is never sent to another host, even an allowed one."""
    parts = urlsplit(url)
    return not parts.query and (parts.hostname or "").endswith(f".blob.{config.cloud.storage_suffix}")


def package_settings(config: AzureConfig, url: str) -> dict[str, str]:
    """The settings that point the app at a package. A blob URL without a SAS query is fetched
    with the lanes' identity (it needs Storage Blob Data Reader on the container), so it never
    expires."""
    settings = {RUN_FROM_PACKAGE: url}
    if config.lane_identity_id and is_blob_without_sas(config, url):
        settings[RUN_FROM_PACKAGE_IDENTITY] = config.lane_identity_id
    return settings


def merged_settings(existing: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str] | None:
    """`existing` updated with `wanted`, or None when nothing would change (skip the write).

    Settings the backend does not own (WEBSITE_RUN_FROM_PACKAGE, operator additions) survive.
    """
    if all(existing.get(key) == value for key, value in wanted.items()):
        return None
    return {**existing, **wanted}
