"""The local backend end to end: real dev host processes, real HTTP, real signals.

Read-only checks share one lane (1.0, serving sample 1.0.0) deployed once for the module, because
each host start costs a moment. A test that creates, patches, kills or deletes a lane does it on a
backend with a root of its own, so it needs no other test's lane and leaves none behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.ports import port_is_free
from provisioning import local_process
from provisioning.base import AppRef, DeployResult, LaneSpec, Package
from provisioning.errors import PackageError, ProvisioningError
from provisioning.local import REPO_ROOT, LocalLaneBackend
from samples.build import build_package, package_sha256
from tests.provisioning.local_support import (
    DURABLE_API,
    module_event_loop,
    start_order,
    wait_for_status,
)

pytestmark = pytest.mark.e2e

loop = module_event_loop()


@dataclass(frozen=True)
class DeployedLane:
    """A lane created, configured and deployed, with what the tests check it against."""

    spec: LaneSpec
    app: AppRef
    key: str
    package: Package
    deployed: DeployResult


def spec(version: str, lane: str = "1.0") -> LaneSpec:
    return LaneSpec(lane=lane, version=version, task_hub="lane" + lane.replace(".", "x") + "hub")


def state_of(app: AppRef) -> dict[str, Any]:
    return json.loads((Path(app.resource_id) / "state.json").read_text())


def deploy_lane(
    backend: LocalLaneBackend, lane: LaneSpec, package_path: Path, loop: asyncio.AbstractEventLoop
) -> DeployedLane:
    """Create, configure and deploy `lane` with the package at `package_path`, as a router would."""
    run = loop.run_until_complete
    app = run(backend.create_app(lane))
    run(backend.configure_app(lane, app))
    package = Package(str(package_path), sha256=package_sha256(package_path))
    deployed = run(backend.deploy_package(lane, app, package))
    return DeployedLane(lane, app, run(backend.read_system_key(app)), package, deployed)


def crash(pid: int) -> None:
    """SIGKILL a lane host's process group, as a crash would, and wait until it is gone."""
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local_process.is_running(pid):  # the kill takes a moment to land
        assert time.monotonic() < deadline, "the killed host is still running"
        time.sleep(0.05)


def order(wait_seconds: float) -> dict[str, Any]:
    """An order for the sample app whose pickup timer waits `wait_seconds`."""
    order_id = f"A-{uuid.uuid4().hex[:8]}"
    return {"order_id": order_id, "item": "widget", "quantity": 2, "wait_seconds": wait_seconds}


def finished(status: dict[str, Any]) -> bool:
    return status["runtimeStatus"] in ("Completed", "Failed")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packages")
    return {version: build_package(version, out) for version in ("1.0.0", "1.0.1")}


@pytest.fixture(scope="module")
def serving_backend(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[LocalLaneBackend]:
    backend = LocalLaneBackend(tmp_path_factory.mktemp("router"))
    yield backend
    # Whatever a failed test left behind: no lane process outlives the module.
    loop.run_until_complete(LocalLaneBackend(backend.root).stop_all())


@pytest.fixture(scope="module")
def serving_lane(
    serving_backend: LocalLaneBackend, packages: dict[str, Path], loop: asyncio.AbstractEventLoop
) -> DeployedLane:
    """Lane 1.0 serving sample 1.0.0: for read-only checks only."""
    return deploy_lane(serving_backend, spec("1.0.0"), packages["1.0.0"], loop)


@pytest.fixture
def backend(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[LocalLaneBackend]:
    """A backend on a root of its own, for a test that changes, kills or deletes its lanes."""
    backend = LocalLaneBackend(tmp_path / "router")
    yield backend
    loop.run_until_complete(LocalLaneBackend(backend.root).stop_all())


def test_create_is_idempotent_and_keeps_the_key_out_of_the_app_ref_and_state_file(
    backend: LocalLaneBackend, loop: asyncio.AbstractEventLoop
) -> None:
    run = loop.run_until_complete
    app = run(backend.create_app(spec("1.0.0")))
    assert run(backend.create_app(spec("1.0.0"))) == app
    assert app.name == "lane-1-0" and app.base_url.startswith("http://127.0.0.1:")
    run(backend.configure_app(spec("1.0.0"), app))
    key = run(backend.read_system_key(app))
    assert stat.S_IMODE((Path(app.resource_id) / "secrets.json").stat().st_mode) == 0o600
    assert key not in repr(app) and key not in (Path(app.resource_id) / "state.json").read_text()


def test_the_host_serves_its_version_and_refuses_a_wrong_key(
    serving_backend: LocalLaneBackend, serving_lane: DeployedLane, loop: asyncio.AbstractEventLoop
) -> None:
    app = serving_lane.app
    assert (serving_lane.deployed.version, serving_lane.deployed.package_sha256) == (
        "1.0.0",
        serving_lane.package.sha256,
    )
    assert loop.run_until_complete(serving_backend.check_health(app)).healthy
    assert httpx.get(f"{app.base_url}/api/version", timeout=10).json() == {"version": "1.0.0"}
    refused = httpx.get(
        f"{app.base_url}{DURABLE_API}/instances", headers={"x-functions-key": "wrong"}, timeout=10
    )
    assert refused.status_code in (401, 403)


def test_a_patch_is_deployed_in_place_under_a_waiting_order_which_finishes_on_it(
    backend: LocalLaneBackend, packages: dict[str, Path], loop: asyncio.AbstractEventLoop
) -> None:
    run = loop.run_until_complete
    lane = deploy_lane(backend, spec("1.0.0"), packages["1.0.0"], loop)
    app, key = lane.app, lane.key
    instance_id = start_order(app, key, order(wait_seconds=5))
    wait_for_status(
        app, key, instance_id, lambda s: (s.get("customStatus") or {}).get("step") == "waiting_for_pickup"
    )
    pid_before = state_of(app)["pid"]

    # A file:// URL, the other form a local package takes.
    patch = Package(f"file://{packages['1.0.1']}", sha256=package_sha256(packages["1.0.1"]))
    assert run(backend.deploy_package(spec("1.0.1"), app, patch)).version == "1.0.1"
    assert state_of(app)["pid"] != pid_before and not local_process.is_running(pid_before)
    assert run(backend.create_app(spec("1.0.1"))) == app  # same port, same data dir

    status = wait_for_status(app, key, instance_id, finished)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["app_version"] == "1.0.1"
    assert status["output"]["shipment"].endswith("carrier notified")
    assert status["output"]["reservation"] == "reserved 2 x widget"  # done by 1.0.0, replayed


def test_the_same_package_again_changes_nothing(
    backend: LocalLaneBackend, packages: dict[str, Path], loop: asyncio.AbstractEventLoop
) -> None:
    lane = deploy_lane(backend, spec("1.0.0"), packages["1.0.0"], loop)
    pid = state_of(lane.app)["pid"]
    again = loop.run_until_complete(backend.deploy_package(lane.spec, lane.app, lane.package))
    assert again.extra.get("unchanged") == "true" and state_of(lane.app)["pid"] == pid


def test_the_lane_runs_its_package_with_no_environment_of_its_own(
    serving_backend: LocalLaneBackend, serving_lane: DeployedLane
) -> None:
    """As the Python worker does (azure-functions-python-worker, python/prodV4/worker.py): the app's
    dependencies come from the package's .python_packages; beside them only the worker's own."""
    state = state_of(serving_lane.app)
    assert state["python"] == sys.executable  # no interpreter (venv) of the lane's own
    assert not list(serving_backend.root.rglob("pyvenv.cfg"))
    cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
    assert cmdline[:2] == [sys.executable.encode(), b"-S"]  # without the router's site-packages
    package = Path(serving_lane.app.resource_id) / "current"
    assert (package / ".python_packages/lib/site-packages/azure/durable_functions").is_dir()
    environ = dict(
        entry.split(b"=", 1) for entry in Path(f"/proc/{state['pid']}/environ").read_bytes().split(b"\0") if b"=" in entry
    )
    worker = Path(environ[b"PYTHONPATH"].decode().split(os.pathsep)[1])
    assert (worker / "azure" / "functions").is_dir()
    assert not (worker / "azure" / "durable_functions").exists()  # the app brings it, not the worker
    # ...and the app's orchestrators, which import it, run.
    instance_id = start_order(serving_lane.app, serving_lane.key, order(wait_seconds=0))
    status = wait_for_status(serving_lane.app, serving_lane.key, instance_id, finished)
    assert status["runtimeStatus"] == "Completed", status


def test_local_list_from_another_process_sees_the_live_host(
    serving_backend: LocalLaneBackend, serving_lane: DeployedLane
) -> None:
    """What a restarted router, or someone at a shell, sees of the lanes under a root."""
    listed = subprocess.run(
        [sys.executable, "-m", "provisioning", "local", "list", "--root", str(serving_backend.root)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
        check=True,
    )
    state = state_of(serving_lane.app)
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {
            "lane": "1.0",
            "app": "lane-1-0",
            "version": "1.0.0",
            "port": state["port"],
            "pid": state["pid"],
            "running": True,
            "package_sha256": serving_lane.package.sha256,
        }
    ]


def test_a_restarted_backend_reattaches_the_live_host(
    serving_backend: LocalLaneBackend, serving_lane: DeployedLane, loop: asyncio.AbstractEventLoop
) -> None:
    pid = state_of(serving_lane.app)["pid"]
    restarted = LocalLaneBackend(serving_backend.root)
    assert loop.run_until_complete(restarted.create_app(serving_lane.spec)) == serving_lane.app
    assert state_of(serving_lane.app)["pid"] == pid
    assert [p.name for p in (serving_backend.root / "lanes").iterdir()] == ["lane-1-0"]


def test_a_killed_host_is_restarted_by_check_health_on_the_same_port_and_data_dir(
    backend: LocalLaneBackend, packages: dict[str, Path], loop: asyncio.AbstractEventLoop
) -> None:
    lane = deploy_lane(backend, spec("1.0.0"), packages["1.0.0"], loop)
    instance_id = start_order(lane.app, lane.key, order(wait_seconds=0))
    assert wait_for_status(lane.app, lane.key, instance_id, finished)["runtimeStatus"] == "Completed"
    before = state_of(lane.app)

    crash(before["pid"])
    health = loop.run_until_complete(backend.check_health(lane.app))
    assert health.healthy and "restarted" in health.detail, health
    after = state_of(lane.app)
    assert after["pid"] != before["pid"] and after["port"] == before["port"]
    # The data dir survived: what the host had committed before the crash is still there.
    status = wait_for_status(lane.app, lane.key, instance_id, lambda s: True)
    assert status["runtimeStatus"] == "Completed"


def test_restart_app_starts_a_crashed_host_again_on_the_same_port(
    backend: LocalLaneBackend, packages: dict[str, Path], loop: asyncio.AbstractEventLoop
) -> None:
    lane = deploy_lane(backend, spec("1.0.0"), packages["1.0.0"], loop)
    before = state_of(lane.app)

    crash(before["pid"])
    loop.run_until_complete(backend.restart_app(lane.app))

    after = state_of(lane.app)
    assert after["pid"] != before["pid"] and after["port"] == before["port"]
    assert local_process.is_running(after["pid"])
    assert httpx.get(f"{lane.app.base_url}/api/version", timeout=10).json() == {"version": "1.0.0"}


def test_delete_stops_the_host_frees_the_port_removes_the_lane_and_is_idempotent(
    backend: LocalLaneBackend, packages: dict[str, Path], loop: asyncio.AbstractEventLoop
) -> None:
    run = loop.run_until_complete
    app = deploy_lane(backend, spec("1.0.0"), packages["1.0.0"], loop).app
    pid, port = state_of(app)["pid"], state_of(app)["port"]
    run(backend.delete_app(app))
    assert not local_process.is_running(pid)
    assert port_is_free(port)
    assert not Path(app.resource_id).exists()
    run(backend.delete_app(app))
    assert backend.lanes() == []


def test_no_step_of_a_lanes_life_logs_its_system_key(
    backend: LocalLaneBackend,
    packages: dict[str, Path],
    loop: asyncio.AbstractEventLoop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every step that logs: create, configure, deploy, the same package again, a patch, a restart
    after a crash, delete."""
    caplog.set_level(logging.DEBUG)
    run = loop.run_until_complete
    lane = deploy_lane(backend, spec("1.0.0"), packages["1.0.0"], loop)
    run(backend.deploy_package(lane.spec, lane.app, lane.package))
    patch = Package(str(packages["1.0.1"]), sha256=package_sha256(packages["1.0.1"]))
    run(backend.deploy_package(spec("1.0.1"), lane.app, patch))
    crash(state_of(lane.app)["pid"])
    assert run(backend.check_health(lane.app)).healthy
    run(backend.delete_app(lane.app))

    # httpcore's DEBUG wire dump is left out: it shows the Durable API's own answers to the
    # backend's health check, whose URLs carry the key as they do on Azure.
    records = [r for r in caplog.records if not r.name.startswith("httpcore")]
    assert any(r.name.startswith("provisioning") for r in records), "the backend logs its steps"
    assert not [r for r in records if lane.key in r.getMessage()]


def test_a_host_that_cannot_start_fails_clearly_without_leaking_keys(
    backend: LocalLaneBackend,
    tmp_path: Path,
    loop: asyncio.AbstractEventLoop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The app prints its key and exits at import: the error quotes the log, key masked."""
    caplog.set_level(logging.DEBUG)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("host.json", json.dumps({"version": "2.0"}))
        archive.writestr("requirements.txt", "azure-functions>=1.26,<2\nazure-functions-durable>=1.7,<2\n")
        archive.writestr(
            "function_app.py",
            "import os\nprint('key is', os.environ['DEVHOST_DURABLETASK_KEY'], flush=True)\nos._exit(3)\n",
        )
    run = loop.run_until_complete
    lane = spec("9.0.0", lane="9.0")
    app = run(backend.create_app(lane))
    key = run(backend.read_system_key(app))
    with pytest.raises(ProvisioningError) as caught:
        run(backend.deploy_package(lane, app, Package(str(broken))))
    assert "did not become ready" in caught.value.message
    assert key not in caught.value.message and "***" in caught.value.message
    assert not [r for r in caplog.records if key in r.getMessage()]
    run(backend.delete_app(app))
    assert not Path(app.resource_id).exists()


def test_a_package_without_its_python_packages_runs_no_function_and_says_why(
    backend: LocalLaneBackend, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """Sample 1.0.0's files alone, as `samples.build` zipped them before packages carried their
    dependencies: run from package, nothing installs them, so the worker cannot import the app
    (azure-functions-python-worker, python/prodV4/worker.py) and the host runs with no function
    and its error in /admin/host/status (azure-functions-host, src/WebJobs.Script.WebHost/
    Controllers/HostController.cs)."""
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as archive:
        for name in ("function_app.py", "host.json", "requirements.txt"):
            archive.write(REPO_ROOT / "samples" / "1.0.0" / name, name)
    run = loop.run_until_complete
    lane = deploy_lane(backend, spec("1.0.0"), bare, loop)  # the host starts: it answers its ping

    health = run(backend.check_health(lane.app))
    assert not health.healthy
    assert ".python_packages/lib/site-packages" in health.detail
    assert "No module named 'azure.durable_functions'" in health.detail
    with pytest.raises(PackageError) as caught:
        run(backend.check_readiness(lane.app))
    assert ".python_packages" in caught.value.message and not caught.value.retryable
    master = json.loads((Path(lane.app.resource_id) / "secrets.json").read_text())["masterKey"]
    status = httpx.get(f"{lane.app.base_url}/admin/host/status", headers={"x-functions-key": master}, timeout=10)
    assert status.json()["state"] == "Error" and status.json()["functions"] == []
    assert lane.key not in health.detail and master not in health.detail
