"""A plain func.FunctionApp carrying a df.Blueprint (the official samples-v2/blueprint shape) and
ordinary HTTP functions (tests/apps/compat_blueprint), through a real dev host process."""

from collections.abc import Iterator

import httpx
import pytest

from devhost.testing import HostHandle, running_host
from tests.devhost.e2e_support import APPS, poll_finished, shown

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host() -> Iterator[HostHandle]:
    with running_host(APPS / "compat_blueprint") as handle:
        yield handle


@pytest.fixture(scope="module")
def http(host: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        yield client


def test_blueprint_starter_named_by_function_name(http: httpx.Client, host: HostHandle) -> None:
    # authLevel function (the app's default), yet no key needed: keys are bypassed as under
    # `func start` without --enableAuth.
    response = http.post("/api/startOrchestrator")
    assert response.status_code == 202, shown(response)
    management = response.json()
    assert response.headers["Location"] == management["statusQueryGetUri"]
    status = poll_finished(http, management["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["name"] == "greet_cities"
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]

    response = http.get("/api/startOrchestrator", params={"cities": "Oslo,Lima", "code": host.function_key})
    assert response.status_code == 202, shown(response)
    status = poll_finished(http, response.json()["statusQueryGetUri"])
    assert status["output"] == ["Hello Oslo!", "Hello Lima!"]


def test_plain_http_trigger_on_the_function_app(http: httpx.Client, host: HostHandle) -> None:
    key = {"x-functions-key": host.function_key}
    response = http.get("/api/HttpTrigger", params={"name": "Ada"}, headers=key)
    assert response.status_code == 200, shown(response)
    assert response.text.startswith("Hello, Ada.")
    response = http.post("/api/HttpTrigger", json={"name": "Grace"}, headers=key)
    assert response.text.startswith("Hello, Grace.")
    # Route matching is case-insensitive in the Functions host.
    assert http.get("/api/httptrigger", params={"name": "x"}, headers=key).status_code == 200


def test_catch_all_route_and_response_headers(http: httpx.Client) -> None:
    response = http.get("/api/files/reports/2024/q1.csv", params={"v": "2"})
    assert response.status_code == 200, shown(response)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-compat-path"] == "reports/2024/q1.csv"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"path": "reports/2024/q1.csv", "method": "GET", "query": {"v": "2"}}
    response = http.put("/api/files/one")
    assert response.json()["method"] == "PUT"
    assert http.delete("/api/files/one").status_code in (404, 405)


def test_custom_status_code_mimetype_and_charset(http: httpx.Client) -> None:
    response = http.get("/api/teapot")
    assert response.status_code == 418
    assert response.headers["content-type"].startswith("text/html")
    assert "charset=utf-8" in response.headers["content-type"]
    assert response.headers["x-brew"] == "earl grey"
    assert response.text == "<b>short and stout</b>"
