"""Why a breaking version gets its own lane, shown on one local lane with the sample app.

Sample 1.1.0 is correct on its own, but deployed in place under an order that 1.0.0 started,
the order's replay no longer matches its history: the SDK pairs the new `charge_payment` step
with the old timer, and the order finishes without ever being charged. That is the failure the
router exists to prevent, by giving 1.1 its own app.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioning.base import AppRef, LaneSpec, Package
from provisioning.local import REPO_ROOT, LocalLaneBackend
from samples.build import build_package

pytestmark = pytest.mark.e2e

VENV_ROOT = Path(os.environ.get("LOCAL_LANE_VENVS", REPO_ROOT / ".devhost" / "venvs"))
DURABLE_API = "/runtime/webhooks/durabletask"
FINISHED = ("Completed", "Failed", "Terminated")


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def backend(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[LocalLaneBackend]:
    backend = LocalLaneBackend(tmp_path_factory.mktemp("router"), venv_root=VENV_ROOT)
    yield backend
    loop.run_until_complete(backend.stop_all())


def start(app: AppRef, key: str, order: dict[str, Any]) -> str:
    response = httpx.post(
        f"{app.base_url}{DURABLE_API}/orchestrators/process_order",
        json=order,
        headers={"x-functions-key": key},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_for(
    app: AppRef, key: str, instance_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{app.base_url}{DURABLE_API}/instances/{instance_id}",
            headers={"x-functions-key": key},
            timeout=10,
        )
        if response.status_code in (200, 202):
            status = response.json()
            if done(status):
                return status
        time.sleep(0.2)
    raise AssertionError(f"instance {instance_id} never reached the expected status; last: {status}")


def test_breaking_release_in_place_corrupts_in_flight_orders_but_serves_new_ones(
    backend: LocalLaneBackend, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    run = loop.run_until_complete
    lane = LaneSpec(lane="1.0", version="1.0.0", task_hub="samplelanehub")
    app = run(backend.create_app(lane))
    run(backend.deploy_package(lane, app, Package(str(build_package("1.0.0", tmp_path)))))
    key = run(backend.read_system_key(app))

    in_flight = start(app, key, {"order_id": "old-1", "wait_seconds": 3})
    wait_for(app, key, in_flight, lambda s: (s.get("customStatus") or {}).get("step") == "waiting_for_pickup")
    breaking = LaneSpec(lane="1.0", version="1.1.0", task_hub="samplelanehub")
    run(backend.deploy_package(breaking, app, Package(str(build_package("1.1.0", tmp_path)))))

    corrupted = wait_for(app, key, in_flight, lambda s: s["runtimeStatus"] in FINISHED)
    charged = corrupted["runtimeStatus"] == "Completed" and (corrupted["output"] or {}).get("payment")
    assert not charged, f"the 1.0 order should not have finished correctly on 1.1.0: {corrupted}"

    fresh = start(
        app, key, {"order_id": "new-1", "wait_seconds": 0.2, "lines": [{"sku": "gear", "quantity": 3}]}
    )
    status = wait_for(app, key, fresh, lambda s: s["runtimeStatus"] in FINISHED)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["payment"] == {"order_id": "new-1", "charged_cents": 750}
    assert status["output"]["reservation"] == "reserved 3 x gear"
    assert status["output"]["app_version"] == "1.1.0"
    assert httpx.get(f"{app.base_url}/api/version", timeout=10).json() == {"version": "1.1.0"}

    run(backend.delete_app(app))
