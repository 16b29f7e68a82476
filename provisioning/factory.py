"""Build the lane backend the router's settings choose (ROUTER_PROVISIONER)."""

from __future__ import annotations

from pathlib import Path

from provisioning.base import LaneBackend
from router.settings import Settings


def build_backend(settings: Settings) -> LaneBackend:
    if settings.provisioner == "azure":
        from provisioning.azure import AzureLaneBackend
        from provisioning.azure_config import AzureConfig, TrackingStore

        tracking = None
        if settings.tracking_store.connection_string_name:
            tracking = TrackingStore(
                connection_name=settings.tracking_store.connection_string_name,
                name_prefix=settings.tracking_store.name_prefix,
            )
        config = AzureConfig(
            subscription_id=settings.subscription_id,
            resource_group=settings.resource_group,
            location=settings.location,
            plan_id=settings.plan_id,
            app_prefix=settings.app_prefix,
            lane_storage_account=settings.lane_storage_account,
            tracking_store=tracking,
            base_url=settings.arm_endpoint,
        )
        return AzureLaneBackend(config)
    from provisioning.local import LocalLaneBackend

    options = {"venv_root": Path(settings.local_venv_root)} if settings.local_venv_root else {}
    return LocalLaneBackend.from_settings(settings, **options)
