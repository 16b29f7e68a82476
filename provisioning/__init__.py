"""Provisioning backends: one interface (`LaneBackend`), an Azure and a local implementation."""
