"""Helpers shared by the Azure backend tests (no tests here): a config and a backend on the fake
ARM, and the lane and package they provision. The `fake_arm` fixture is in conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from provisioning.azure import AzureLaneBackend
from provisioning.azure_config import AzureConfig
from provisioning.base import LaneSpec, Package
from tests.fakes.arm import FakeArm, StaticTokenCredential

T = TypeVar("T")

PLAN_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/serverfarms/lanes"  # P1v3 (conftest)
SCHEDULER_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.DurableTask/schedulers/lanes-dts"
IDENTITY_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/lanes"
CLIENT_ID = "00000000-0000-0000-0000-00000000c1d0"


def plan_id(plan: str) -> str:
    """The ARM id of one of the fake's plans (conftest.DEFAULT_PLANS)."""
    return PLAN_ID.rsplit("/", 1)[0] + "/" + plan
PACKAGE = Package("https://packages.example.net/app-1.2.0.zip?sv=2024&sig=sas-secret")


def make_config(arm: FakeArm, **overrides: Any) -> AzureConfig:
    fields: dict[str, Any] = dict(
        subscription_id="sub",
        resource_group="rg",
        location="westeurope",
        plan_id=PLAN_ID,
        # A fresh prefix per test, so app names never repeat between tests.
        app_prefix=f"t{uuid.uuid4().hex[:8]}",
        base_url=arm.base_url,
        # The package host of PACKAGE, and the fake ARM's own /packages/ (127.0.0.1).
        allowed_package_hosts=("*.example.net", "127.0.0.1"),
        polling_interval=0.01,
        retry_backoff_factor=0.01,
    )
    fields.update(overrides)
    return AzureConfig(**fields)


def run(arm: FakeArm, scenario: Callable[[AzureLaneBackend], Awaitable[T]], **overrides: Any) -> T:
    """Run `scenario` with a backend on the fake, then close the backend."""

    async def main() -> T:
        backend = AzureLaneBackend(
            make_config(arm, **overrides), StaticTokenCredential(), connection_verify=str(arm.ca_path)
        )
        try:
            return await scenario(backend)
        finally:
            await backend.aclose()

    return asyncio.run(main())


def lane_spec(lane: str = "1.2", version: str = "1.2.0") -> LaneSpec:
    return LaneSpec(lane=lane, version=version, task_hub=f"Lane{lane.replace('.', 'v')}")
