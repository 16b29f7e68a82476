"""Build the lane backend the provisioning config chooses (ROUTER_PROVISIONER)."""

from __future__ import annotations

from provisioning.base import LaneBackend
from provisioning.config import ProvisioningConfig


def build_backend(config: ProvisioningConfig) -> LaneBackend:
    if config.provisioner == "azure":
        # Imported only when chosen: the local backend needs no Azure SDK at start.
        from provisioning.azure import AzureLaneBackend
        from provisioning.azure_config import AzureConfig

        return AzureLaneBackend(AzureConfig.from_config(config))
    from provisioning.local import LocalLaneBackend

    return LocalLaneBackend.from_config(config)
