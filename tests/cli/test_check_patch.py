"""`dfrouter check-patch` against the router in the dev host, over real HTTP, with real lanes.

Lane 1.0 runs tests/apps/replay_v1 with one `chain` instance waiting for `approve` (after reserve
and charge). The replay is the real `python -S -m devhost replay --json` subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from demo.router_client import RouterClient
from router.cli.errors import ExitCode
from samples.build import package_sha256
from tests.apps.replay_variants import replay_app
from tests.cli.support import Run, dfrouter
from tests.e2e.test_patch_gate import (
    REPO,
    approve,
    post,
    start_waiting_chain,
    zip_app,
)

pytestmark = pytest.mark.e2e
# The gate as a pipeline meets it: a patch needs a passing check of its exact package.
ROUTER_SETTINGS = {"ROUTER_PATCH_GATE": "require"}


@pytest.fixture(scope="module")
def lane(router, tmp_path_factory) -> dict[str, Path]:
    """Lane 1.0 on replay_v1 with `order-1` waiting; the packages to check against it."""
    out = tmp_path_factory.mktemp("check-patch")
    packages = {name: zip_app(name, out) for name in ("replay_v1", "replay_reordered", "replay_v1_patch_ok")}
    first = post(router, "1.0.0", packages["replay_v1"])
    assert first.status_code == 202, first.text
    assert router.wait_release(first.json()["id"])["state"] == "completed"
    start_waiting_chain(router, "order-1")
    return packages


def check(router: RouterClient, *argv: str, key: str | None = None) -> Run:
    env = {"DFROUTER_URL": router.base_url, "DFROUTER_KEY": key if key is not None else router.master_key}
    return dfrouter("check-patch", *argv, env=env, secrets=(router.master_key, router.function_key))


def test_a_breaking_patch_exits_1_with_a_table_naming_the_instance_and_its_first_difference(router, lane):
    run = check(router, "--lane", "1.0", "--package", str(lane["replay_reordered"]))
    assert run.code == ExitCode.FAILED, run.out + run.err
    assert "1 in-flight instance(s) checked, 0 clean, 1 diverged, 0 failed" in run.out
    row = next(line for line in run.lines if line.startswith("order-1"))
    assert "chain" in row and "diverged" in row and "reserve" in row and "charge" in row
    assert "new MINOR" in run.out
    shown = json.loads(run.lines[-1].removeprefix("replayCheck: "))
    assert shown["passed"] is False and shown["instancesChecked"] == 1
    assert shown["sha256"] == package_sha256(lane["replay_reordered"])


def test_a_clean_patch_exits_0_and_prints_the_replay_check_intake_takes(router, lane):
    run = check(router, "--lane", "1.0", "--package", str(lane["replay_v1_patch_ok"]), "--json")
    assert run.code == ExitCode.OK, run.out + run.err
    (document,) = [json.loads(line) for line in run.lines]
    assert document["lane"] == "1.0" and document["passed"] is True
    assert (document["instancesChecked"], document["clean"], document["diverged"], document["failed"]) == (1, 1, 0, 0)
    assert document["instances"] == [{"instanceId": "order-1", "name": "chain", "verdict": "clean"}]
    check_document = document["replayCheck"]
    assert set(check_document) == {"sha256", "instancesChecked", "checkedAt", "passed", "lane", "ticket"}
    assert check_document["sha256"] == package_sha256(lane["replay_v1_patch_ok"])
    # The router's ticket of the histories it handed out: this lane, signed with its admin keys.
    assert check_document["lane"] == "1.0" and check_document["ticket"]
    assert router.master_key not in check_document["ticket"]


def test_the_replay_sees_only_the_packages_own_python_packages(router, lane, tmp_path):
    """A package without .python_packages cannot import the Durable SDK in the replay, however
    the router's own environment has it: as on App Service, its instances fail to replay."""
    bare = tmp_path / "bare.zip"
    patch_ok = replay_app("replay_v1_patch_ok", tmp_path)
    with zipfile.ZipFile(bare, "w") as archive:
        for name in ("function_app.py", "host.json"):
            archive.write(patch_ok / name, name)
    run = check(router, "--lane", "1.0", "--package", str(bare), "--json")
    assert run.code == ExitCode.FAILED, run.out + run.err
    (document,) = [json.loads(line) for line in run.lines]
    assert (document["failed"], document["passed"]) == (1, False)
    (instance,) = document["instances"]
    assert instance["verdict"] == "failed"
    assert "No module named 'azure.durable_functions'" in instance["firstDifference"]


def test_refusals_exit_with_the_cli_codes(router, lane, tmp_path):
    # A lane with no release yet (the first x.y.1 of a MINOR): nothing in flight, nothing to check.
    unknown = check(router, "--lane", "7.7", "--package", str(lane["replay_v1_patch_ok"]))
    assert unknown.code == ExitCode.OK, unknown.err
    assert unknown.out.strip() == "lane 7.7 has no release yet: this is not a patch, nothing to check"
    client_key = check(router, "--lane", "1.0", "--package", str(lane["replay_v1_patch_ok"]), key=router.function_key)
    assert client_key.code == ExitCode.AUTH, client_key.err
    bad_lane = check(router, "--lane", "one", "--package", str(lane["replay_v1_patch_ok"]))
    assert bad_lane.code == ExitCode.BAD_INPUT and "--lane" in bad_lane.err
    missing = check(router, "--lane", "1.0", "--package", str(tmp_path / "none.zip"))
    assert missing.code == ExitCode.BAD_INPUT and "none.zip" in missing.err
    not_zip = tmp_path / "text.zip"
    not_zip.write_text("not a zip")
    refused = check(router, "--lane", "1.0", "--package", str(not_zip))
    assert refused.code == ExitCode.BAD_INPUT and "zip" in refused.err


def test_check_patch_needs_nothing_a_pipeline_agents_pip_install_lacks():
    """`pip install .` brings httpx and rich only (pyproject.toml): registering the command, and
    what it loads when it runs, must import neither semver nor a Functions or aiohttp package."""
    code = ("import sys\n"
            "for name in ('semver', 'azure', 'aiohttp'): sys.modules[name] = None\n"
            "from router.cli.main import build_parser\n"
            "build_parser()\n"
            "import router.replay_check, provisioning.naming, provisioning.packaging\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_release_replay_check_takes_what_check_patch_wrote_through_the_require_gate(fresh_router, lane, tmp_path):
    """A pipeline's two steps, as examples/*/release.yml run them: check-patch's output in a file,
    then `release --replay-check FILE`. The breaking patch's failed check is refused (409, exit 6);
    the clean patch's --json document deploys in place and the waiting instance finishes on it."""
    router = fresh_router
    first = post(router, "1.0.0", lane["replay_v1"])
    assert first.status_code == 202, first.text
    assert router.wait_release(first.json()["id"])["state"] == "completed"
    order_url = start_waiting_chain(router, "order-9")
    release_env = {"DFROUTER_URL": router.base_url, "DFROUTER_KEY": router.release_key}

    breaking = check(router, "--lane", "1.0", "--package", str(lane["replay_reordered"]))
    assert breaking.code == ExitCode.FAILED, breaking.out + breaking.err
    (tmp_path / "breaking.txt").write_text(breaking.out)
    refused = dfrouter("release", "--version", "1.0.1", "--package", str(lane["replay_reordered"]),
                       "--replay-check", str(tmp_path / "breaking.txt"), env=release_env, secrets=(router.release_key,))
    assert refused.code == ExitCode.CONFLICT, refused.out + refused.err
    assert "replay_check_required" in refused.err and "did not pass" in refused.err

    clean = check(router, "--lane", "1.0", "--package", str(lane["replay_v1_patch_ok"]), "--json")
    assert clean.code == ExitCode.OK, clean.out + clean.err
    (tmp_path / "clean.json").write_text(clean.out)
    deployed = dfrouter("release", "--version", "1.0.1", "--package", str(lane["replay_v1_patch_ok"]),
                        "--replay-check", str(tmp_path / "clean.json"), "--wait", "--poll", "0.5", "--timeout", "120",
                        env=release_env, secrets=(router.release_key,))
    assert deployed.code == ExitCode.OK, deployed.out + deployed.err
    assert deployed.lines[-1].endswith("completed: version 1.0.1 on lane 1.0")
    approve(router, "order-9")
    status = router.wait_instance(order_url, deadline=60)
    assert status["runtimeStatus"] == "Completed" and "(patched)" in json.dumps(status["output"])
