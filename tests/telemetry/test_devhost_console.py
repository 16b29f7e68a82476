"""The router's console under the real dev host (`python -m devhost start`, a process of its
own): the router's lines are JSON with the four fields, the host's own lines keep its format,
and ROUTER_LOG_FORMAT=text keeps the router's plain. The host configures its console before it
imports the app (devhost/cli.py), as the Python worker sets up its log handler before it loads
functions, so telemetry.configure finds the handler to format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost import testing

pytestmark = pytest.mark.timeout(90)

REPO_ROOT = Path(__file__).resolve().parents[2]


def router_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ROUTER_TASK_HUB": "TelemetryHub", "ROUTER_PROVISIONER": "local",
            "ROUTER_LOCAL_ROOT": str(tmp_path / "lanes"), "ROUTER_CLIENT_KEYS": "", "ROUTER_RELEASE_KEYS": "",
            "ROUTER_ADMIN_KEYS": "", "APPLICATIONINSIGHTS_CONNECTION_STRING": "", "ROUTER_OTEL_CONSOLE": "", **extra}


def test_the_routers_console_lines_are_json_and_the_hosts_are_not(tmp_path: Path) -> None:
    with testing.running_host(REPO_ROOT, data_dir=tmp_path / "host", env=router_env(tmp_path)) as host:
        output = host.output()
    lines = output.splitlines()
    ours = [json.loads(line[line.index("{"):]) for line in lines if '"logger": "router' in line]
    (warning,) = [line for line in ours if line["logger"] == "router.settings"]
    assert warning["level"] == "WARNING" and "ROUTER_*_KEYS" in warning["message"]
    # Logged at import, outside any request: every field there, and null.
    assert [warning[f] for f in ("lane", "version", "instanceId", "releaseId")] == [None] * 4
    assert any("Host started: http://" in line and "{" not in line for line in lines)


def test_text_log_format_keeps_the_hosts_format_for_the_router_too(tmp_path: Path) -> None:
    env = router_env(tmp_path, ROUTER_LOG_FORMAT="text")
    with testing.running_host(REPO_ROOT, data_dir=tmp_path / "host", env=env) as host:
        output = host.output()
    assert "ROUTER_*_KEYS" in output and '"logger": "router' not in output
