"""The local backend end to end: a real dev host process per lane, real HTTP, real signals.

One lane (1.0) lives through the whole module's story, because each host start costs seconds:
created, deployed with sample 1.0.0, patched in place to 1.0.1 while an orchestration waits on a
timer, found again by a restarted router, restarted after a crash, and deleted.
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
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from devhost.ports import port_is_free
from provisioning import local_process
from provisioning.base import LaneSpec, Package
from provisioning.errors import ProvisioningError
from provisioning.local import REPO_ROOT, LocalLaneBackend
from samples.build import build_package, package_sha256
from tests.provisioning.local_support import (
    DURABLE_API,
    VENV_ROOT,
    module_event_loop,
    start_order,
    wait_for_status,
)

pytestmark = pytest.mark.e2e

loop = module_event_loop()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packages")
    return {version: build_package(version, out) for version in ("1.0.0", "1.0.1")}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("router")


@pytest.fixture(scope="module")
def backend(root: Path, loop: asyncio.AbstractEventLoop) -> Iterator[LocalLaneBackend]:
    backend = LocalLaneBackend(root, venv_root=VENV_ROOT)
    yield backend
    # Whatever a failed test left behind: no lane process outlives the module.
    loop.run_until_complete(LocalLaneBackend(root, venv_root=VENV_ROOT).stop_all())


def spec(version: str, lane: str = "1.0") -> LaneSpec:
    return LaneSpec(lane=lane, version=version, task_hub="lane" + lane.replace(".", "x") + "hub")


def state_of(root: Path, lane: str = "1-0") -> dict[str, Any]:
    return json.loads((root / "lanes" / f"lane-{lane}" / "state.json").read_text())


def test_lane_lifecycle_with_an_in_place_patch(
    backend: LocalLaneBackend,
    root: Path,
    packages: dict[str, Path],
    loop: asyncio.AbstractEventLoop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    run = loop.run_until_complete

    # Create (twice: idempotent) and configure.
    app = run(backend.create_app(spec("1.0.0")))
    assert run(backend.create_app(spec("1.0.0"))) == app
    assert app.name == "lane-1-0" and app.base_url.startswith("http://127.0.0.1:")
    run(backend.configure_app(spec("1.0.0"), app))
    key = run(backend.read_system_key(app))
    secrets_file = Path(app.resource_id) / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert key not in repr(app) and key not in (Path(app.resource_id) / "state.json").read_text()

    # Deploy 1.0.0: the host serves it, with the lane's own key.
    sha_100 = package_sha256(packages["1.0.0"])
    result = run(backend.deploy_package(spec("1.0.0"), app, Package(str(packages["1.0.0"]), sha256=sha_100)))
    assert (result.version, result.package_sha256) == ("1.0.0", sha_100)
    assert run(backend.check_health(app)).healthy
    assert httpx.get(f"{app.base_url}/api/version", timeout=10).json() == {"version": "1.0.0"}
    refused = httpx.get(
        f"{app.base_url}{DURABLE_API}/instances", headers={"x-functions-key": "wrong"}, timeout=10
    )
    assert refused.status_code in (401, 403)

    # An order waits on its timer while the patch is deployed in place.
    order = {"order_id": f"A-{uuid.uuid4().hex[:8]}", "item": "widget", "quantity": 2, "wait_seconds": 5}
    instance_id = start_order(app, key, order)
    wait_for_status(
        app, key, instance_id, lambda s: (s.get("customStatus") or {}).get("step") == "waiting_for_pickup"
    )
    pid_before = state_of(root)["pid"]
    patch = Package(f"file://{packages['1.0.1']}", sha256=package_sha256(packages["1.0.1"]))
    assert run(backend.deploy_package(spec("1.0.1"), app, patch)).version == "1.0.1"
    assert state_of(root)["pid"] != pid_before and not local_process.is_running(pid_before)
    assert run(backend.create_app(spec("1.0.1"))) == app  # same port, same data dir

    # It resumes after the restart and finishes on 1.0.1.
    status = wait_for_status(app, key, instance_id, lambda s: s["runtimeStatus"] in ("Completed", "Failed"))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["app_version"] == "1.0.1"
    assert status["output"]["shipment"].endswith("carrier notified")
    assert status["output"]["reservation"] == "reserved 2 x widget"  # done by 1.0.0, replayed

    # The same package again changes nothing.
    pid_patched = state_of(root)["pid"]
    again = run(backend.deploy_package(spec("1.0.1"), app, patch))
    assert again.extra.get("unchanged") == "true" and state_of(root)["pid"] == pid_patched

    # Both packages have the same requirements: one cached environment serves them.
    assert Path(state_of(root)["python"]).is_relative_to(VENV_ROOT.resolve())

    # Another process (a restarted router) recognises the live host as the lane's.
    listed = subprocess.run(
        [sys.executable, "-m", "provisioning", "local", "list", "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
        check=True,
    )
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {
            "lane": "1.0",
            "app": "lane-1-0",
            "version": "1.0.1",
            "port": state_of(root)["port"],
            "pid": pid_patched,
            "running": True,
            "package_sha256": patch.sha256,
        }
    ]

    # A restarted router (a new backend on the same root) re-attaches the live host.
    restarted = LocalLaneBackend(root, venv_root=VENV_ROOT)
    assert run(restarted.create_app(spec("1.0.1"))) == app
    assert state_of(root)["pid"] == pid_patched
    assert [p.name for p in (root / "lanes").iterdir()] == ["lane-1-0"]

    # A crashed host is restarted on the same port and data dir: nothing committed is lost.
    os.killpg(pid_patched, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local_process.is_running(pid_patched):  # the kill takes a moment to land
        assert time.monotonic() < deadline, "the killed host is still running"
        time.sleep(0.05)
    health = run(restarted.check_health(app))
    assert health.healthy and "restarted" in health.detail, health
    assert state_of(root)["pid"] != pid_patched
    assert wait_for_status(app, key, instance_id, lambda s: True)["runtimeStatus"] == "Completed"

    # Delete: process gone, port free, directory removed; deleting again is fine.
    pid_last, port = state_of(root)["pid"], state_of(root)["port"]
    run(restarted.delete_app(app))
    assert not local_process.is_running(pid_last)
    assert port_is_free(port)
    assert not Path(app.resource_id).exists()
    run(restarted.delete_app(app))
    assert restarted.lanes() == []

    # The system key reached no log line. (httpcore's DEBUG wire dump is left out: it shows the
    # Durable API's own 202 answers to this test, whose URLs carry the key as they do on Azure.)
    records = [r for r in caplog.records if not r.name.startswith("httpcore")]
    assert any(r.name.startswith("provisioning") for r in records), "the backend logs its steps"
    assert not [r for r in records if key in r.getMessage()]


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
