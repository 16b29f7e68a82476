from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.arm import FakeArm, serve_fake_arm
from tests.provisioning.azure_arm_plans import PlanRoutes

# The plan and scheduler every backend test's fake ARM holds (azure_support.PLAN_ID, SCHEDULER_ID).
DEFAULT_PLANS = {"lanes": "P1v3", "lanes-y1": "Y1", "lanes-ep1": "EP1", "lanes-fc1": "FC1"}
SCHEDULERS = ("lanes-dts",)


@pytest.fixture
def fake_arm(tmp_path: Path) -> Iterator[FakeArm]:
    """A fresh fake ARM server per test, with the lanes' plans and scheduler (`arm_plans`)."""
    with serve_fake_arm(tmp_path) as arm:
        arm.plan_routes = PlanRoutes(arm, DEFAULT_PLANS, SCHEDULERS)  # type: ignore[attr-defined]
        yield arm


@pytest.fixture
def arm_plans(fake_arm: FakeArm) -> PlanRoutes:
    """The plans and scheduler task hubs of `fake_arm`."""
    return fake_arm.plan_routes  # type: ignore[attr-defined, no-any-return]
