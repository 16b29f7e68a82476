"""Build the lane backend the router's settings choose (ROUTER_PROVISIONER)."""

from __future__ import annotations

from pathlib import Path

from provisioning.base import LaneBackend
from router.settings import Settings


def build_backend(settings: Settings) -> LaneBackend:
    if settings.provisioner == "azure":
        # Imported only when chosen: the local backend needs no Azure SDK at start.
        from provisioning.azure import AzureLaneBackend
        from provisioning.azure_config import azure_config_from_settings

        return AzureLaneBackend(azure_config_from_settings(settings))
    from provisioning.local import LocalLaneBackend

    options = {"venv_root": Path(settings.local_venv_root)} if settings.local_venv_root else {}
    return LocalLaneBackend.from_settings(settings, **options)
