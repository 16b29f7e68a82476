"""What the Azure backend needs to know, as plain data: the provisioning config's Azure part, the
cloud it talks to, and the backend's own tuning (retries, polling, timeouts)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from provisioning.config import ARM_ENDPOINT, ProvisioningConfig
from provisioning.naming import DEFAULT_APP_PREFIX

# Storage's token audience is the same in every cloud (docs: "Authorize access to blobs using
# Microsoft Entra ID", resource https://storage.azure.com/).
STORAGE_SCOPE = "https://storage.azure.com/.default"


@dataclass(frozen=True)
class Cloud:
    """The parts of an Azure cloud the backend uses besides Resource Manager's URL."""

    name: str
    storage_suffix: str  # <account>.blob.<suffix>
    authority_host: str  # where DefaultAzureCredential signs in outside App Service

    @property
    def is_public(self) -> bool:
        return self.name == "AzureCloud"


# Resource Manager host -> its cloud (docs: "Azure China 21Vianet developer guide", "Azure
# Government developer guide"; azure-identity's AzureAuthorityHosts).
KNOWN_CLOUDS = {
    "management.azure.com": Cloud("AzureCloud", "core.windows.net", "login.microsoftonline.com"),
    "management.chinacloudapi.cn": Cloud("AzureChinaCloud", "core.chinacloudapi.cn", "login.chinacloudapi.cn"),
    "management.usgovcloudapi.net": Cloud("AzureUSGovernment", "core.usgovcloudapi.net", "login.microsoftonline.us"),
}


def cloud_of(arm_endpoint: str, storage_suffix: str = "") -> Cloud:
    """The cloud of `arm_endpoint`, its storage suffix replaced by `storage_suffix` if given (Azure
    Stack, say); an ARM the table does not know is taken for the public cloud's."""
    public = KNOWN_CLOUDS["management.azure.com"]
    known = KNOWN_CLOUDS.get(urlsplit(arm_endpoint).hostname or "", public)
    if storage_suffix and storage_suffix != known.storage_suffix:
        return Cloud("custom", storage_suffix, known.authority_host)
    return known


@dataclass(frozen=True)
class AzureConfig:
    """Where lane apps go, how they are set up, and which packages they may run."""

    subscription_id: str
    resource_group: str
    location: str
    plan_id: str  # ARM id of the App Service plan every lane app runs on
    app_prefix: str = DEFAULT_APP_PREFIX
    lane_identity_id: str = ""  # the user-assigned identity every lane app runs as (ARM id)
    lane_identity_client_id: str = ""
    lane_storage_account: str = ""  # identity-based AzureWebJobsStorage when set
    lane_storage_secret_uri: str = ""  # or a Key Vault reference to its connection string
    lane_content_secret_uri: str = ""  # Elastic Premium's content share (default: the storage secret)
    scheduler_id: str = ""  # a Durable Task Scheduler holding the lanes' task hubs; empty: Azure Storage
    allowed_package_hosts: tuple[str, ...] = ()  # as the release intake checks them
    python_version: str = "3.11"
    base_url: str = ARM_ENDPOINT
    storage_suffix: str = ""  # empty: the one of base_url's cloud
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
            lane_identity_id=config.lane_identity_id,
            lane_identity_client_id=config.lane_identity_client_id,
            lane_storage_account=config.lane_storage_account,
            lane_storage_secret_uri=config.lane_storage_secret_uri,
            lane_content_secret_uri=config.lane_content_secret_uri,
            scheduler_id=config.scheduler_id,
            allowed_package_hosts=config.allowed_package_hosts,
            base_url=config.arm_endpoint,
            storage_suffix=config.storage_suffix,
        )

    @property
    def scope(self) -> str:
        """What makes app names differ between two routers using the same prefix."""
        return f"{self.subscription_id}/{self.resource_group}"

    @property
    def cloud(self) -> Cloud:
        return cloud_of(self.base_url, self.storage_suffix)

    @property
    def arm_scope(self) -> str:
        """The token scope for Resource Manager: its own URL's (`{arm}/.default`) in every cloud."""
        return f"{self.base_url.rstrip('/')}/.default"
