"""An instance on a lane is managed through the router's URLs: suspend, resume, events,
terminate and purge each reach the lane's instance, and each answer hides the lane."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from demo.router_client import RouterClient, wait_for
from tests.e2e.conftest import all_lane_secrets, start_ok, zip_test_app

pytestmark = pytest.mark.e2e

VERSION = "3.0.0"


@pytest.fixture(scope="module")
def approvals(router, tmp_path_factory) -> RouterClient:
    """The router with one lane serving the approval app (released once for the module)."""
    package = zip_test_app("approval_app", tmp_path_factory.mktemp("approval"))
    response = router.post_release(VERSION, str(package))
    assert response.status_code == 202, response.text
    assert router.wait_release(response.json()["id"])["state"] == "completed"
    return router


class Instance:
    """One waiting `await_approval` instance, driven through the URLs the router handed out."""

    def __init__(self, router: RouterClient) -> None:
        self.router = router
        self.urls = start_ok(router, VERSION, {}, orchestrator="await_approval", instance_id=f"approval-{uuid.uuid4().hex}")
        self.key = {"x-functions-key": router.function_key}

    def status(self) -> dict[str, Any]:
        return self.router.get(self.urls["statusQueryGetUri"]).json()

    def wait_status(self, runtime_status: str, what: str) -> dict[str, Any]:
        return wait_for(lambda: (s := self.status())["runtimeStatus"] == runtime_status and s, 30, what)

    def waiting(self) -> "Instance":
        # The positive signal that the orchestration runs and waits for its event.
        wait_for(lambda: (self.status().get("customStatus") or {}).get("step") == "waiting_for_approval",
                 30, "the instance to wait for its approval")
        return self

    def action(self, name: str, reason: str):
        return self.router.http.post(self.urls[name].replace("{text}", reason), headers=self.key)

    def raise_approval(self, payload: Any):
        url = self.urls["sendEventPostUri"].replace("{eventName}", "Approval")
        return self.router.http.post(url, json=payload, headers=self.key)


def test_an_event_raised_through_the_router_reaches_the_waiting_instance(approvals):
    instance = Instance(approvals).waiting()
    assert instance.raise_approval({"by": "ops"}).status_code == 202
    status = approvals.wait_instance(instance.urls["statusQueryGetUri"], deadline=30)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"approval": {"by": "ops"}}


def test_a_suspended_instance_resumes_where_it_waited(approvals):
    instance = Instance(approvals).waiting()
    assert instance.action("suspendPostUri", "pause").status_code == 202
    instance.wait_status("Suspended", "suspend")
    assert instance.action("resumePostUri", "go").status_code == 202
    instance.wait_status("Running", "resume")
    assert instance.raise_approval("after resume").status_code == 202
    assert approvals.wait_instance(instance.urls["statusQueryGetUri"], deadline=30)["output"] == {
        "approval": "after resume"}


def test_a_terminated_instance_ends_with_the_reason(approvals):
    instance = Instance(approvals).waiting()
    assert instance.action("terminatePostUri", "done").status_code == 202
    status = instance.wait_status("Terminated", "terminate")
    assert status["output"] == "done"


def test_a_purged_instance_is_gone_and_the_404_shows_no_lane_key(approvals):
    instance = Instance(approvals).waiting()
    assert instance.raise_approval("ok").status_code == 202
    approvals.wait_instance(instance.urls["statusQueryGetUri"], deadline=30)
    assert approvals.http.delete(instance.urls["purgeHistoryDeleteUri"], headers=instance.key).status_code == 200
    gone = approvals.get(instance.urls["statusQueryGetUri"])
    assert gone.status_code == 404
    for secret in all_lane_secrets(approvals):
        assert secret not in gone.text


def test_an_unknown_instance_action_is_400(approvals):
    instance = Instance(approvals)
    bad = approvals.http.post(f"{instance.urls['statusQueryGetUri']}/explode", headers=instance.key)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    instance.action("terminatePostUri", "cleanup")


def test_an_instance_url_naming_an_unknown_lane_is_404(approvals):
    instance = Instance(approvals)
    unknown = approvals.get(instance.urls["statusQueryGetUri"].replace("/instances/3.0/", "/instances/4.2/"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_lane"
    instance.action("terminatePostUri", "cleanup")
