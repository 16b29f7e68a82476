"""When the app cannot be loaded: `devhost start` exits 1 by default (fails fast, as tests and
the router's own start want), and with `--on-load-error serve` keeps serving with no function and
the error in /admin/host/status, as the Functions host on App Service reports a host whose worker
could not index the app (azure-functions-host, src/WebJobs.Script.WebHost/Controllers/
HostController.cs GetHostStatus; Models/HostStatus.cs: `errors`, left out when there are none)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from devhost import launcher
from devhost.ports import free_port

MASTER_KEY = "test-master-key"


def a_broken_app(root: Path) -> Path:
    root.mkdir()
    (root / "function_app.py").write_text("import azure.functions as func\nimport not_installed_anywhere\n")
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    return root


def command(app: Path, tmp_path: Path, serve: bool) -> launcher.HostCommand:
    return launcher.HostCommand(
        app_dir=app, port=free_port(), data_dir=tmp_path / "data", log_path=tmp_path / "host.log",
        env=launcher.host_env({"DEVHOST_MASTER_KEY": MASTER_KEY}), enable_auth=True, serve_on_load_error=serve,
    )  # fmt: skip


def test_by_default_a_load_error_stops_the_host_with_exit_code_1(tmp_path: Path) -> None:
    run = command(a_broken_app(tmp_path / "app"), tmp_path, serve=False)
    done = subprocess.run(run.argv(), env=dict(run.env), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "No module named 'not_installed_anywhere'" in done.stderr


def test_served_a_load_error_shows_in_the_host_status_with_no_function(tmp_path: Path) -> None:
    run = command(a_broken_app(tmp_path / "app"), tmp_path, serve=True)
    process = launcher.start(run)
    try:
        status = httpx.get(f"{run.base_url}/admin/host/status", headers={"x-functions-key": MASTER_KEY}, timeout=10)
        assert status.status_code == 200
        body = status.json()
        assert body["state"] == "Error" and body["functions"] == []
        assert len(body["errors"]) == 1
        assert "ModuleNotFoundError: No module named 'not_installed_anywhere'" in body["errors"][0]
        assert httpx.get(f"{run.base_url}/api/x", timeout=10).status_code == 404
        refused = httpx.get(f"{run.base_url}/admin/host/status", timeout=10)
        assert refused.status_code == 401  # the status is the master key's, errors or not
    finally:
        assert launcher.stop(process) == 0
    assert "Worker failed to index functions" in run.log_path.read_text()


@pytest.mark.parametrize("serve", [False, True])
def test_a_loaded_app_is_running_without_errors_either_way(tmp_path: Path, serve: bool) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    run = command(app, tmp_path, serve=serve)
    process = launcher.start(run)
    try:
        body = httpx.get(f"{run.base_url}/admin/host/status", headers={"x-functions-key": MASTER_KEY}, timeout=10).json()
        assert body["state"] == "Running" and "errors" not in body
    finally:
        launcher.stop(process)
