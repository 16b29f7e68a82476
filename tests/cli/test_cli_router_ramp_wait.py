"""`dfrouter release --wait --ramp` against the router in the dev host: a pipeline that asked for a
ramp in one call gets the ramp's outcome as its exit code. The CLI runs as a pipeline runs it (a
subprocess, the release key in DFROUTER_KEY, which cannot read the version map), and follows the
ramp from the release's own status (router/release_progress.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning import packaging
from router.cli.errors import ExitCode
from samples.build import SAMPLES_DIR, TARGET, VERSIONS, package_sha256
from tests.cli.test_cli_router import POLL, cli, keys_of, release_args
from tests.e2e.conftest import start_ok

pytestmark = pytest.mark.e2e

FAILING_APP = Path(__file__).resolve().parents[2] / "demo" / "failing_order_app"  # every process_order fails


def test_release_wait_with_a_ramp_onto_failing_orchestrations_exits_1_with_the_figures(fresh_router, packages,
                                                                                       tmp_path):
    router = fresh_router
    first = cli(router, *release_args("1.0.0", packages["1.0.0"]), "--wait", *POLL, "--timeout", "120",
                key=router.release_key)
    assert first.code == ExitCode.OK, first.out + first.err
    failing = packaging.build_package(FAILING_APP, tmp_path / "failing.zip", target=TARGET,
                                      requirements=SAMPLES_DIR / VERSIONS[0] / "requirements.txt").path
    env = {**os.environ, "DFROUTER_URL": router.base_url, "DFROUTER_KEY": router.release_key}
    # Three 2-second steps: the starts below land on the lane well before the ramp's last check.
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "release", "--version", "1.1.0", "--package", str(failing),
         "--sha256", package_sha256(failing), "--ramp", "50,75,100", "--ramp-step-seconds", "2",
         "--max-failed-ratio", "0.1", "--wait", *POLL, "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        router.wait_lane_state("1.1", "active")
        for n in range(3):  # named starts are never ramped, and count among the lane's since the ramp began
            start_ok(router, "1.1.0", {"order_id": f"fails-{n}", "wait_seconds": 0})
        out, err = pipeline.communicate(timeout=120)
    finally:
        pipeline.kill()
    for secret in keys_of(router):
        assert secret not in out + err
    assert pipeline.returncode == ExitCode.FAILED, out + err
    assert "ramp_started" in out and "ramp_aborted" in out
    assert out.splitlines()[-1].startswith("release release-") and "; ramp aborted: " in out.splitlines()[-1]
    assert "the ramp onto lane 1.1 aborted" in err and "lane 1.0 stays current" in err
    assert "failed, ratio " in err, "the last check's figures"
    vmap = router.version_map()
    assert vmap["current"] == "1.0" and vmap["ramp"]["state"] == "aborted"
