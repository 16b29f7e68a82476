"""A lane whose deployment fails keeps the error, answers 503, and a new release retries it."""

from __future__ import annotations

import zipfile

import pytest

from samples.build import SAMPLES_DIR, build_package, package_sha256

pytestmark = pytest.mark.e2e

# A lane that never serves fails at this timeout at the latest (not the production 10 minutes).
ROUTER_SETTINGS = {"ROUTER_LANE_READY_TIMEOUT": "20"}


def test_a_failed_lane_answers_503_until_a_new_release_fixes_it(router, tmp_path):
    package = build_package("1.0.0", tmp_path)
    wrong = "0" * 64
    response = router.post_release("1.0.0", str(package), wrong)
    assert response.status_code == 202
    status = router.wait_release(response.json()["id"], deadline=120)
    assert status["state"] == "failed"
    assert "sha256" in status["error"]["message"]

    lane = router.version_map()["lanes"]["1.0"]
    assert lane["state"] == "failed" and lane["error"]["code"] == "package_error"
    assert "sha256" in lane["error"]["message"]
    refused = router.start("process_order", {"order_id": "early"}, version="1.0.0")
    assert refused.status_code == 503
    assert refused.json()["error"] == "lane_failed" and "sha256" in refused.json()["failure"]

    retry = router.post_release("1.0.0", str(package), package_sha256(package))
    assert retry.status_code == 202, retry.text
    assert retry.json()["id"] != response.json()["id"]
    assert router.wait_release(retry.json()["id"], deadline=120)["state"] == "completed"
    assert router.lane_state("1.0") == "active"
    order = router.start("process_order", {"order_id": "late", "wait_seconds": 0}, version="1.0.0")
    assert order.status_code == 202
    assert router.wait_instance(order.json()["statusQueryGetUri"])["output"]["app_version"] == "1.0.0"


def test_a_package_without_its_dependencies_ends_in_a_failed_lane_naming_python_packages(fresh_router, tmp_path):
    """What a package built before packages carried their dependencies does on Azure: run from
    package installs nothing from requirements.txt
    (https://learn.microsoft.com/azure/azure-functions/run-functions-from-deployment-package), so
    the Python worker cannot import the app and the host runs no function; the lane must fail
    with that reason rather than be activated."""
    bare = tmp_path / "bare-1.0.0.zip"
    with zipfile.ZipFile(bare, "w") as archive:
        for name in ("function_app.py", "host.json", "requirements.txt"):
            archive.write(SAMPLES_DIR / "1.0.0" / name, name)
    response = fresh_router.post_release("1.0.0", str(bare), package_sha256(bare))
    assert response.status_code == 202, response.text
    status = fresh_router.wait_release(response.json()["id"], deadline=120)
    assert status["state"] == "failed", status
    lane = fresh_router.version_map()["lanes"]["1.0"]
    assert lane["state"] == "failed"
    assert ".python_packages/lib/site-packages" in lane["error"]["message"], lane["error"]
    assert "No module named 'azure.durable_functions'" in lane["error"]["message"]
    refused = fresh_router.start("process_order", {"order_id": "never"}, version="1.0.0")
    assert refused.status_code == 503 and ".python_packages" in refused.json()["failure"]
