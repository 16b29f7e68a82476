"""Why a breaking version gets its own lane, shown on one local lane with the sample app.

Sample 1.1.0 is correct on its own, but deployed in place under an order that 1.0.0 started,
the order's replay no longer matches its history: the SDK pairs the new `charge_payment` step
with the old timer, and the order finishes without ever being charged. That is the failure the
router exists to prevent, by giving 1.1 its own app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provisioning.base import LaneSpec, Package
from provisioning.local import LocalLaneBackend
from samples.build import build_package
from tests.provisioning.local_support import (
    module_event_loop,
    start_order,
    wait_for_status,
)

pytestmark = pytest.mark.e2e

FINISHED = ("Completed", "Failed", "Terminated")

loop = module_event_loop()


@pytest.fixture(scope="module")
def backend(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[LocalLaneBackend]:
    backend = LocalLaneBackend(tmp_path_factory.mktemp("router"))
    yield backend
    loop.run_until_complete(backend.stop_all())


def test_breaking_release_in_place_corrupts_in_flight_orders_but_serves_new_ones(
    backend: LocalLaneBackend, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    run = loop.run_until_complete
    lane = LaneSpec(lane="1.0", version="1.0.0", task_hub="samplelanehub")
    app = run(backend.create_app(lane))
    run(backend.deploy_package(lane, app, Package(str(build_package("1.0.0", tmp_path)))))
    key = run(backend.read_system_key(app))

    in_flight = start_order(app, key, {"order_id": "old-1", "wait_seconds": 3})
    wait_for_status(
        app, key, in_flight, lambda s: (s.get("customStatus") or {}).get("step") == "waiting_for_pickup"
    )
    breaking = LaneSpec(lane="1.0", version="1.1.0", task_hub="samplelanehub")
    run(backend.deploy_package(breaking, app, Package(str(build_package("1.1.0", tmp_path)))))

    corrupted = wait_for_status(app, key, in_flight, lambda s: s["runtimeStatus"] in FINISHED)
    charged = corrupted["runtimeStatus"] == "Completed" and (corrupted["output"] or {}).get("payment")
    assert not charged, f"the 1.0 order should not have finished correctly on 1.1.0: {corrupted}"

    fresh = start_order(
        app, key, {"order_id": "new-1", "wait_seconds": 0.2, "lines": [{"sku": "gear", "quantity": 3}]}
    )
    status = wait_for_status(app, key, fresh, lambda s: s["runtimeStatus"] in FINISHED)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["payment"] == {"order_id": "new-1", "charged_cents": 750}
    assert status["output"]["reservation"] == "reserved 3 x gear"
    assert status["output"]["app_version"] == "1.1.0"
    assert httpx.get(f"{app.base_url}/api/version", timeout=10).json() == {"version": "1.1.0"}

    run(backend.delete_app(app))
