"""What the Azure backend needs to know, as plain data: the provisioning config's Azure part and
the backend's own tuning (retries, polling, timeouts)."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.config import ARM_ENDPOINT, ProvisioningConfig, TrackingStore
from provisioning.naming import DEFAULT_APP_PREFIX


@dataclass(frozen=True)
class AzureConfig:
    """Where lane apps go, how they are set up, and which packages they may run."""

    subscription_id: str
    resource_group: str
    location: str
    plan_id: str  # ARM id of the App Service plan every lane app runs on
    app_prefix: str = DEFAULT_APP_PREFIX
    lane_storage_account: str = ""  # identity-based AzureWebJobsStorage when set
    tracking_store: TrackingStore | None = None
    allowed_package_hosts: tuple[str, ...] = ()  # as the release intake checks them
    python_version: str = "3.11"
    base_url: str = ARM_ENDPOINT
    # How long to wait between polls of a long-running operation without Retry-After.
    polling_interval: float = 10.0
    # azure-core's retry policy: 429 and 5xx are retried, Retry-After is honoured.
    retry_total: int = 6
    retry_backoff_factor: float = 0.8
    retry_backoff_max: int = 60
    # Seconds to wait for ARM's (or the package host's) answer before the attempt counts as failed.
    read_timeout: float = 120.0

    @classmethod
    def from_config(cls, config: ProvisioningConfig) -> "AzureConfig":
        """The Azure backend's config from the provisioning config (validated there)."""
        return cls(
            subscription_id=config.subscription_id,
            resource_group=config.resource_group,
            location=config.location,
            plan_id=config.plan_id,
            app_prefix=config.app_prefix,
            lane_storage_account=config.lane_storage_account,
            tracking_store=config.tracking_store,
            allowed_package_hosts=config.allowed_package_hosts,
            base_url=config.arm_endpoint,
        )

    @property
    def scope(self) -> str:
        """What makes app names differ between two routers using the same prefix."""
        return f"{self.subscription_id}/{self.resource_group}"
