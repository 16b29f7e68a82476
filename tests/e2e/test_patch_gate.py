"""The patch gate end to end (issue 15): ROUTER_PATCH_GATE=require, the local provisioner, real lanes.

Lane 1.0 runs tests/apps/replay_v1, whose `chain` orchestration calls reserve, then charge, then
waits for `approve` before it ships. The breaking "patch" is replay_reordered (charge before
reserve); the clean one replay_v1_patch_ok (same steps, `ship` answers
"... (patched)", so an instance shows which code finished it). check-patch is the real command
(`python -m router.cli check-patch`, in a subprocess as a pipeline runs it), over the router's
GET /api/lanes/{lane}/histories and the real `devhost replay`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from demo.router_client import RouterClient, wait_for
from provisioning import packaging
from samples.build import SAMPLES_DIR, TARGET, VERSIONS, package_sha256
from tests.apps.replay_variants import replay_app

pytestmark = pytest.mark.e2e

ROUTER_SETTINGS = {"ROUTER_PATCH_GATE": "require"}
REPO = Path(__file__).resolve().parents[2]


def zip_app(name: str, out_dir: Path) -> Path:
    """Package replay_v1 or one of its variants (tests/apps/replay_variants.py) as a pipeline
    would (python -m provisioning package), with the samples' requirements
    (azure-functions-durable) in its .python_packages."""
    requirements = SAMPLES_DIR / VERSIONS[0] / "requirements.txt"
    return packaging.build_package(replay_app(name, out_dir), out_dir / f"{name}.zip", target=TARGET,
                                   requirements=requirements).path


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gate-packages")
    return {name: zip_app(name, out) for name in ("replay_v1", "replay_reordered", "replay_v1_patch_ok")}


def check_patch(router: RouterClient, package: Path, lane: str = "1.0") -> tuple[int, dict[str, Any]]:
    """`python -m router.cli check-patch --json` with the router's admin key; (exit code, its document)."""
    env = {**os.environ, "DFROUTER_URL": router.base_url, "DFROUTER_KEY": router.master_key}
    done = subprocess.run([sys.executable, "-m", "router.cli", "check-patch", "--lane", lane,
                           "--package", str(package), "--json"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=240, check=False)
    assert router.master_key not in done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, done.stderr
    return done.returncode, json.loads(lines[-1])


def post(router: RouterClient, version: str, package: Path, check: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"version": version, "packageUrl": str(package), "sha256": package_sha256(package)}
    if check is not None:
        body["replayCheck"] = check
    return router.http.post("/api/releases", json=body, headers={"x-functions-key": router.release_key})


def start_waiting_chain(router: RouterClient, instance_id: str) -> str:
    """Start `chain` on lane 1.0; return its status URL once it waits for `approve` (two tasks done)."""
    response = router.start("chain", "book", version="1.0.0", instance_id=instance_id)
    assert response.status_code == 202, response.text

    def waiting() -> bool:
        histories = router.admin_get("/api/lanes/1.0/histories")
        assert histories.status_code == 200, histories.text
        for line in histories.text.splitlines():
            document = json.loads(line)
            if document["instanceId"] == instance_id:
                return sum(e.get("EventType") == "TaskCompleted" for e in document.get("historyEvents", [])) == 2
        return False

    wait_for(waiting, 60, f"{instance_id} to wait for approve")
    return str(response.json()["statusQueryGetUri"])


def approve(router: RouterClient, instance_id: str) -> None:
    response = router.http.post(f"/api/instances/1.0/{instance_id}/raiseEvent/approve", json=True,
                                headers={"x-functions-key": router.function_key})
    assert response.status_code == 202, response.text


def test_require_refuses_a_breaking_patch_and_the_waiting_instance_completes_on_the_old_code(fresh_router, apps):
    router = fresh_router
    first = post(router, "1.0.0", apps["replay_v1"])
    assert first.status_code == 202, first.text
    assert router.wait_release(first.json()["id"])["state"] == "completed"
    # Checked while nothing waits on the lane: it passes, and goes stale once an instance waits.
    code, stale = check_patch(router, apps["replay_reordered"])
    assert code == 0 and stale["instancesChecked"] == 0 and stale["replayCheck"]["passed"] is True
    assert stale["replayCheck"]["lane"] == "1.0" and stale["replayCheck"]["ticket"]

    status_url = start_waiting_chain(router, "order-waiting")

    # No replayCheck: refused at intake, naming the command to run.
    refused = post(router, "1.0.1", apps["replay_reordered"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "replay_check_required"
    assert "python -m router.cli check-patch" in refused.json()["message"]

    # check-patch names the waiting instance and its first difference, and exits non-zero.
    code, found = check_patch(router, apps["replay_reordered"])
    assert code == 1, found
    assert (found["instancesChecked"], found["clean"], found["diverged"], found["failed"]) == (1, 0, 1, 0)
    (instance,) = found["instances"]
    assert instance["instanceId"] == "order-waiting" and instance["verdict"] == "diverged"
    assert "reserve" in instance["firstDifference"] and "charge" in instance["firstDifference"]
    assert "MINOR" in found["advice"]
    assert found["replayCheck"]["sha256"] == package_sha256(apps["replay_reordered"])
    failing = post(router, "1.0.1", apps["replay_reordered"], found["replayCheck"])
    assert failing.status_code == 409, failing.text

    # The stale check with a hand-written ticket (a zero MAC over a plausible document): the
    # router did not issue it, so it proves nothing about these histories.
    document = {"kind": "replayCheckTicket", "lane": "1.0", "issuedAt": stale["replayCheck"]["checkedAt"]}
    handmade = base64.urlsafe_b64encode(bytes(32) + json.dumps(document).encode()).decode().rstrip("=")
    forged = post(router, "1.0.1", apps["replay_reordered"], {**stale["replayCheck"], "ticket": handmade})
    assert forged.status_code == 409, forged.text
    assert forged.json()["reason"] == "bad_ticket" and handmade not in forged.text

    # A passing check that went stale: intake takes it, the local lifecycle's own check does not.
    taken = post(router, "1.0.1", apps["replay_reordered"], stale["replayCheck"])
    assert taken.status_code == 202, taken.text
    outcome = router.wait_release(taken.json()["id"])
    assert outcome["state"] == "failed", outcome
    assert outcome["error"]["error"] == "patch_breaks_replay" and "order-waiting" in outcome["error"]["message"]
    lane = router.version_map()["lanes"]["1.0"]
    assert lane["state"] == "active" and lane["deployed_version"] == "1.0.0"

    approve(router, "order-waiting")
    done = router.wait_instance(status_url)
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"]["shipped"] == "shipped charged for reserved book"  # the old code's ship


def test_a_clean_patch_with_a_passing_check_deploys_and_the_waiting_instance_finishes_on_it(fresh_router, apps):
    router = fresh_router
    first = post(router, "1.0.0", apps["replay_v1"])
    assert first.status_code == 202, first.text
    assert router.wait_release(first.json()["id"])["state"] == "completed"
    status_url = start_waiting_chain(router, "order-patched")

    code, found = check_patch(router, apps["replay_v1_patch_ok"])
    assert code == 0, found
    assert (found["instancesChecked"], found["clean"]) == (1, 1) and found["replayCheck"]["passed"] is True
    taken = post(router, "1.0.1", apps["replay_v1_patch_ok"], found["replayCheck"])
    assert taken.status_code == 202, taken.text
    outcome = router.wait_release(taken.json()["id"])
    assert outcome["state"] == "completed", outcome
    assert any(s["step"] == "replay_checked" for s in outcome["steps"]), outcome["steps"]
    assert router.version_map()["lanes"]["1.0"]["deployed_version"] == "1.0.1"

    approve(router, "order-patched")
    done = router.wait_instance(status_url)
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"]["shipped"].endswith("(patched)") and done["output"]["patched"] is True
