"""A lane whose deployment fails keeps the error, answers 503, and a new release retries it."""

from __future__ import annotations

import pytest

from samples.build import build_package, package_sha256

pytestmark = pytest.mark.e2e


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
