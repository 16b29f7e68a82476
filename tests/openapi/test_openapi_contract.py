"""docs/openapi.yaml is the router's HTTP API: checked against the router running in the dev host.

Schemathesis sends generated requests (valid and invalid) to every documented operation with
its role's key and checks each answer: its status code is documented for the operation, its body
matches the documented schema, its content type is the documented one. Which routes the file
must describe: test_openapi_routes.py.

Excluded from the fuzzing, because they would wreck the one lane every other operation needs:
closing and retiring a lane. Their answers are checked by direct calls instead, on a router of
their own (`test_a_held_start_and_the_lane_commands_answer_as_documented`).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demo.stack import running_router
from samples.build import VERSIONS, package_sha256
from tests.e2e.conftest import release
from tests.openapi.conftest import ROUTER_KEYS, SCHEME_KEYS
from tests.openapi.spec import OPENAPI, operations

pytestmark = pytest.mark.e2e

# They would wreck the fixture's only lane: checked by direct calls on a router of their own.
NOT_FUZZED = ("closeLane", "retireLane")
CHECKS = [status_code_conformance, response_schema_conformance, content_type_conformance,
          response_headers_conformance]

# The router's URL is given per call: it listens on a port of its own choosing.
API = schemathesis.openapi.from_path(OPENAPI, config=schemathesis.Config.from_dict({"request-timeout": 30}))


def with_role_key(case: Any) -> Any:
    """The case with the key of the role its operation's security scheme names (schemathesis
    fills an apiKey header with a value of its own, which the router would refuse)."""
    (scheme,) = case.operation.definition.raw["security"][0]
    case.headers = {**(case.headers or {}), "x-functions-key": SCHEME_KEYS[scheme]}
    return case


def right_role_key(ctx: Any, response: Any, case: Any) -> None:
    """Every request carries its operation's role key, so no answer may refuse the key: a 401 or
    403 here means the file names the wrong role for the route."""
    if response.status_code in (401, 403):
        raise AssertionError(f"{case.method} {case.path} refused its documented role's key: {response.text[:300]}")


@API.exclude(operation_id=list(NOT_FUZZED)).parametrize()
# Bounded: a few examples per operation, no shrinking, no deadline (the lane is a real process),
# the same examples every run (a failure repeats).
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_the_live_router_answers_as_documented(case, live_router):
    with_role_key(case).call_and_validate(base_url=live_router.base_url, checks=CHECKS,
                          additional_checks=[right_role_key])


def _case(api: Any, method: str, path: str, **parts: Any) -> Any:
    return with_role_key(api[path][method].Case(**parts))


def test_each_route_refuses_a_missing_key_and_another_roles_key_as_documented(live_router):
    """Every operation: no key is a 401, another role's key a 403, both the documented error."""
    keys = SCHEME_KEYS
    values = {"name": "process_order", "instanceId": "some-id", "lane": "1.0", "eventName": "go",
              "heldId": "held-none", "releaseId": "release-none"}
    with httpx.Client(base_url=live_router.base_url, timeout=30, trust_env=False) as http:
        for method, path, operation in operations():
            url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            (scheme,) = operation["security"][0]
            for other in (name for name in keys if name != scheme):
                for headers, status in (({}, 401), ({"x-functions-key": keys[other]}, 403)):
                    response = http.request(method, url, headers=headers)
                    assert response.status_code == status, (method, path, other, response.text)
                    body = response.json()
                    assert body["error"] in ("unauthorized", "forbidden") and body["field"] == "x-functions-key"


def test_a_forwarded_start_and_its_instance_answer_as_documented(live_router):
    """The lane's answers pass through as the Durable HTTP API gives them: terminate 202, an event for
    an instance that ended 410, purge 200 (learn.microsoft.com/azure/azure-functions/durable/
    durable-functions-http-api, "Terminate instance", "Raise event", "Purge single instance history")."""
    api, url = API, live_router.base_url
    started = _case(api, "POST", "/api/orchestrators/{name}", path_parameters={"name": "process_order"},
                    body={"orderId": "openapi"}).call_and_validate(base_url=url, checks=CHECKS)
    assert started.status_code == 202
    payload = started.json()
    lane, instance = payload["lane"], payload["id"]
    ids = {"lane": lane, "instanceId": instance}
    status = _case(api, "GET", "/api/instances/{lane}/{instanceId}", path_parameters=ids)
    assert status.call_and_validate(base_url=url, checks=CHECKS).status_code in (200, 202)
    terminated = _case(api, "POST", "/api/instances/{lane}/{instanceId}/terminate", path_parameters=ids,
                       query={"reason": "openapi"}).call_and_validate(base_url=url, checks=CHECKS)
    assert terminated.status_code in (202, 410)
    live_router.wait_instance(payload["statusQueryGetUri"])
    again = _case(api, "POST", "/api/instances/{lane}/{instanceId}/raiseEvent/{eventName}",
                  path_parameters={**ids, "eventName": "approval"}, body=True).call_and_validate(base_url=url, checks=CHECKS)
    assert again.status_code == 410
    purged = _case(api, "DELETE", "/api/instances/{lane}/{instanceId}", path_parameters=ids)
    assert purged.call_and_validate(base_url=url, checks=CHECKS).status_code == 200
    # Two more, so a page of one has a next page whatever ran before on this module's router.
    live_router.start("process_order", {"orderId": "second"})
    live_router.start("process_order", {"orderId": "third"})
    page = _case(api, "GET", "/api/instances", query={"top": 1}).call_and_validate(base_url=url, checks=CHECKS)
    token = page.json()["continuationToken"]
    assert token and page.headers["x-ms-continuation-token"] == [token]  # schemathesis lists each header's values
    following = _case(api, "GET", "/api/instances", query={"top": 1}, headers={"x-ms-continuation-token": token})
    assert following.call_and_validate(base_url=url, checks=CHECKS).status_code == 200


def test_a_release_and_its_status_answer_as_documented(live_router):
    api, url = API, live_router.base_url
    status = _case(api, "GET", "/api/releases/{releaseId}", path_parameters={"releaseId": live_router.release_id})
    assert status.call_and_validate(base_url=url, checks=CHECKS).json()["state"] == "completed"
    package = live_router.package
    again = _case(api, "POST", "/api/releases", body={
        "version": VERSIONS[0], "packageUrl": str(package), "sha256": package_sha256(package)})
    assert again.call_and_validate(base_url=url, checks=CHECKS).json()["duplicate"] is True


def test_a_held_start_and_the_lane_commands_answer_as_documented(tmp_path, sample_packages):
    """On a router of its own, as they change its lanes: a start for a lazy lane (1.1) is held until
    its app exists; then the commands kept out of the fuzzing, close and retire, on lane 1.0 (draining
    once 1.1 is current), each documented answer once."""
    packages = sample_packages
    with running_router(ROUTER_KEYS, work_dir=tmp_path / "router", enable_auth=True) as router:
        api, url = API, router.base_url
        release(router, VERSIONS[0], packages[VERSIONS[0]])
        lazy = release(router, VERSIONS[2], packages[VERSIONS[2]], provision="lazy")
        status = _case(api, "GET", "/api/releases/{releaseId}", path_parameters={"releaseId": lazy["id"]})
        assert status.call_and_validate(base_url=url, checks=CHECKS).status_code == 200
        held = _case(api, "POST", "/api/orchestrators/{name}", path_parameters={"name": "process_order"},
                     headers={"X-App-Version": VERSIONS[2]}, body={"orderId": "held"})
        payload = held.call_and_validate(base_url=url, checks=CHECKS).json()
        assert payload["held"] is True
        held_status = _case(api, "GET", "/api/held/{heldId}", path_parameters={"heldId": payload["id"]})
        assert held_status.call_and_validate(base_url=url, checks=CHECKS).status_code in (200, 202)
        router.wait_held(payload["statusQueryGetUri"])
        forwarded = held_status.call_and_validate(base_url=url, checks=CHECKS)
        assert forwarded.status_code == 200 and forwarded.json()["state"] == "forwarded"
        router.wait_lane_state("1.0", "draining")

        def command(path: str, lane: str, **query: str) -> httpx.Response:
            case = _case(api, "POST", path, path_parameters={"lane": lane}, query=query or None)
            return case.call_and_validate(base_url=url, checks=CHECKS)

        assert command("/api/lanes/{lane}/close", "9.9").status_code == 404  # never released
        assert command("/api/lanes/{lane}/retire", "1.1").status_code == 409  # current: it does not drain
        assert command("/api/lanes/{lane}/retire", "1.0", force="maybe").status_code == 400
        assert command("/api/lanes/{lane}/close", "1.0").status_code == 200
        assert command("/api/lanes/{lane}/retire", "1.0", force="true").status_code == 202
        current = _case(api, "POST", "/api/current", body={"lane": "1.1"}).call_and_validate(base_url=url, checks=CHECKS)
        assert current.status_code == 200
