"""`python -m router run` (`make run`): the local loop a new user starts with.

The end-to-end test follows what the command prints, as the README's "Run it yourself" tells a
user to: take its URL and keys, release a sample package, start an orchestration, read its status
through the router's statusQueryGetUri, then Ctrl-C, which must stop the lane hosts too.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from demo.router_client import wait_for
from devhost.ports import free_port
from provisioning.local import LocalLaneBackend
from router.__main__ import DEV_SETTINGS, DevKeys, banner, dev_settings, host_settings, load_or_create_keys
from samples.build import build_package, package_sha256

REPO = Path(__file__).resolve().parents[2]


def test_the_dev_keys_are_generated_once_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "state" / "keys.json"
    keys = load_or_create_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len({keys.client, keys.release, keys.admin}) == 3 and all(len(k) >= 32 for k in vars(keys).values())
    assert load_or_create_keys(path) == keys, "the keys printed once stay valid on the next run"


def test_the_dev_settings_drain_in_seconds_and_the_environment_wins():
    values = dev_settings(DEV_SETTINGS)
    assert int(values["ROUTER_DRAIN_POLL_SECONDS"]) <= 5 and int(values["ROUTER_DRAIN_GRACE_SECONDS"]) <= 10
    assert float(values["ROUTER_MAP_CACHE_SECONDS"]) <= 2 and values["ROUTER_PROVISIONER"] == "local"
    keys = DevKeys("c" * 32, "r" * 32, "a" * 32)
    merged = host_settings(values, keys, {"ROUTER_DRAIN_GRACE_SECONDS": "30"})
    assert merged["ROUTER_DRAIN_GRACE_SECONDS"] == "30" and merged["ROUTER_CLIENT_KEYS"] == "c" * 32
    # Keys of one's own replace all three dev keys: a router with only some roles' keys refuses to start.
    own = host_settings(values, keys, {"ROUTER_CLIENT_KEYS": "x" * 32})
    assert "ROUTER_RELEASE_KEYS" not in own and own["ROUTER_CLIENT_KEYS"] == "x" * 32


def test_the_banner_shows_keys_from_the_environment_never():
    shown = banner("http://127.0.0.1:7071", None, {}, keep_lanes=False)
    assert "from your environment (not shown)" in shown and "CLIENT_KEY=" not in shown


def exports(output: str) -> dict[str, str]:
    """The `export A=b C=d` lines the banner prints, as a shell would read them."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if line.strip().startswith("export "):
            found.update(word.split("=", 1) for word in shlex.split(line.strip())[1:])
    return found


@pytest.mark.e2e
def test_run_prints_what_a_user_needs_and_ctrl_c_stops_the_router_and_its_lanes(tmp_path):
    package = build_package("1.0.0", tmp_path / "packages")
    lanes_root = tmp_path / "lanes"
    port = free_port()
    output = tmp_path / "run.log"
    env = {**os.environ, "ROUTER_LOCAL_ROOT": str(lanes_root)}
    for setting in ("ROUTER_CLIENT_KEYS", "ROUTER_RELEASE_KEYS", "ROUTER_ADMIN_KEYS"):
        env.pop(setting, None)
    with open(output, "wb") as out:
        run = subprocess.Popen([sys.executable, "-m", "router", "run", "--port", str(port),
                                "--state", str(tmp_path / "state")],
                               cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)  # its own process group, as a terminal's job
    try:
        wait_for(lambda: "Ctrl-C stops the router" in output.read_text(), 60, "the banner")
        printed = output.read_text()
        shell = exports(printed)
        assert shell["ROUTER"] == f"http://127.0.0.1:{port}"
        assert "local development only" in printed and "drain poll 2 s" in printed
        with httpx.Client(base_url=shell["ROUTER"], timeout=30, trust_env=False) as http:
            release_key = {"x-functions-key": shell["RELEASE_KEY"]}
            posted = http.post("/api/releases", headers=release_key, json={
                "version": "1.0.0", "packageUrl": str(package), "sha256": package_sha256(package)})
            assert posted.status_code == 202, posted.text
            wait_for(lambda: http.get(posted.json()["statusQueryGetUri"], headers=release_key)
                     .json()["state"] == "completed", 120, "the release")

            client_key = {"x-functions-key": shell["CLIENT_KEY"]}
            started = http.post("/api/orchestrators/process_order", headers={**client_key, "X-App-Version": "1.0.0"},
                                json={"order_id": "first-hour", "wait_seconds": 0})
            assert started.status_code == 202, started.text
            status_url = started.json()["statusQueryGetUri"]
            assert wait_for(lambda: http.get(status_url, headers=client_key).json()["runtimeStatus"] == "Completed",
                            30, "the order")
            # `curl "$statusQueryGetUri"` as on Azure, without the header: a JSON 401 that says
            # where the key goes, also when the key rides in Azure's ?code=.
            for url in (status_url, f"{status_url}?code={shell['CLIENT_KEY']}"):
                refused = http.get(url)
                assert refused.status_code == 401 and refused.json()["field"] == "x-functions-key", refused.text
                assert re.search(r"x-functions-key header .*\?code= query parameter is not read",
                                 refused.json()["message"])
        assert [running for _, running in LocalLaneBackend(lanes_root).lanes()] == [True]

        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group, host included
        assert run.wait(timeout=60) == 0, output.read_text()[-2000:]
        after_ctrl_c = [running for _, running in LocalLaneBackend(lanes_root).lanes()]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        asyncio.run(LocalLaneBackend(lanes_root).stop_all())  # a failed run leaves no host behind either
    assert after_ctrl_c == [False], "Ctrl-C stopped the lane host"
    assert "router: stopped, and its lane hosts" in output.read_text()
