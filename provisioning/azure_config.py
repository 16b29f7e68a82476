"""What the Azure backend needs to know, as plain data. The router's settings build it."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.naming import DEFAULT_APP_PREFIX
from router.settings import Settings

ARM_ENDPOINT = "https://management.azure.com"


@dataclass(frozen=True)
class TrackingStore:
    """A tracking store shared by every lane, so instances of all versions are queried in one place.

    `connection_name` names the app setting (or identity-based `<name>__accountName` group) the
    Durable extension reads the store's connection from. When `account_name` is set the backend
    writes the identity-based setting itself; otherwise the setting is expected to be provided out
    of band (a Key Vault reference, say) and the backend leaves it alone.
    """

    connection_name: str
    name_prefix: str = ""
    account_name: str = ""


@dataclass(frozen=True)
class AzureConfig:
    """Where lane apps go and how they are set up."""

    subscription_id: str
    resource_group: str
    location: str
    plan_id: str  # ARM id of the App Service plan every lane app runs on
    app_prefix: str = DEFAULT_APP_PREFIX
    lane_storage_account: str = ""  # identity-based AzureWebJobsStorage when set
    tracking_store: TrackingStore | None = None
    python_version: str = "3.11"
    base_url: str = ARM_ENDPOINT
    # How long to wait between polls of a long-running operation without Retry-After.
    polling_interval: float = 10.0
    # azure-core's retry policy: 429 and 5xx are retried, Retry-After is honoured.
    retry_total: int = 6
    retry_backoff_factor: float = 0.8
    retry_backoff_max: int = 60
    # Seconds to wait for ARM's answer before the attempt counts as failed (and is retried).
    read_timeout: float = 120.0

    @property
    def scope(self) -> str:
        """What makes app names differ between two routers using the same prefix."""
        return f"{self.subscription_id}/{self.resource_group}"


def azure_config_from_settings(settings: Settings) -> AzureConfig:
    """The Azure backend's config from the router's settings (validated there)."""
    store = settings.tracking_store
    return AzureConfig(
        subscription_id=settings.subscription_id,
        resource_group=settings.resource_group,
        location=settings.location,
        plan_id=settings.plan_id,
        app_prefix=settings.app_prefix,
        lane_storage_account=settings.lane_storage_account,
        tracking_store=(
            TrackingStore(store.connection_string_name, store.name_prefix)
            if store.connection_string_name
            else None
        ),
        base_url=settings.arm_endpoint,
    )
