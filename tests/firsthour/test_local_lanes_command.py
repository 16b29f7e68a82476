"""`python -m provisioning local list | stop --all | stop LANE`: the lanes a local router left
running, listed and stopped from a shell (the router's lane hosts run in sessions of their own, so
they outlive it by design, as apps on Azure outlive a router restart).

The lane hosts here are real processes in their own session, recorded in the backend's state files
as the backend records a host it started; the command runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.local_process import start_time_of
from provisioning.local_state import LaneFiles, LocalLaneRecord

REPO = Path(__file__).resolve().parents[2]


def local(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provisioning", "local", *args, "--root", str(root)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.fixture
def lane_hosts(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Lanes 1.0 and 1.1 under `tmp_path`, each with a live host process leading its own session."""
    files = LaneFiles(tmp_path / "lanes")
    hosts: dict[str, subprocess.Popen[bytes]] = {}
    for port, lane in enumerate(("1.0", "1.1"), start=47001):
        host = subprocess.Popen(["sleep", "600"], start_new_session=True)
        hosts[lane] = host
        files.create(LocalLaneRecord(lane=lane, name=f"lane-{lane.replace('.', '-')}", port=port,
                                     created="2026-12-01T16:00:00+00:00", version=f"{lane}.0",
                                     pid=host.pid, pid_started=start_time_of(host.pid)))
    yield hosts
    for host in hosts.values():
        host.kill()
        host.wait()


def running(root: Path) -> dict[str, bool]:
    listed = local(root, "list")
    assert listed.returncode == 0, listed.stderr
    return {row["lane"]: row["running"] for row in map(json.loads, listed.stdout.splitlines())}


def test_stop_with_a_lane_stops_only_that_lanes_host_and_keeps_its_state(tmp_path, lane_hosts):
    assert running(tmp_path) == {"1.0": True, "1.1": True}
    stopped = local(tmp_path, "stop", "1.0")
    assert stopped.returncode == 0, stopped.stderr
    assert lane_hosts["1.0"].wait(timeout=10) is not None
    assert lane_hosts["1.1"].poll() is None
    assert running(tmp_path) == {"1.0": False, "1.1": True}, "the stopped lane is still listed: its state stays"


def test_stop_all_stops_every_lane_host(tmp_path, lane_hosts):
    stopped = local(tmp_path, "stop", "--all")
    assert stopped.returncode == 0, stopped.stderr
    for host in lane_hosts.values():
        assert host.wait(timeout=10) is not None
    assert running(tmp_path) == {"1.0": False, "1.1": False}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stop",), "stop needs a lane (e.g. 1.0) or --all"),
        (("stop", "1.0", "--all"), "stop needs a lane (e.g. 1.0) or --all"),
        (("stop", "9.9"), "no local lane 9.9"),
        (("stop", "one"), "lane 'one' is not valid"),
        (("delete", "../x"), "lane '../x' is not valid"),
    ],
)
def test_stop_refuses_what_it_cannot_do_clearly_and_stops_nothing(tmp_path, lane_hosts, args, message):
    refused = local(tmp_path, *args)
    assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert all(host.poll() is None for host in lane_hosts.values())
