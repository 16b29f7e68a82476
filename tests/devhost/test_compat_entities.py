"""Durable entities used as the official Python samples use them (tests/apps/compat_entities),
end to end through a real dev host process and plain HTTP."""

from collections.abc import Iterator

import httpx
import pytest

from devhost.testing import HostHandle, running_host
from tests.devhost.e2e_support import APPS, fresh_id, poll_finished, shown, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host() -> Iterator[HostHandle]:
    with running_host(APPS / "compat_entities") as handle:
        yield handle


@pytest.fixture(scope="module")
def http(host: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        yield client


def run(http: httpx.Client, name: str, body: object) -> dict:
    response = http.post(f"/api/start/{name}", json=body)
    assert response.status_code == 202, shown(response)
    return poll_finished(http, response.json()["statusQueryGetUri"])


def read(http: httpx.Client, name: str, key: str) -> httpx.Response:
    return http.get(f"/api/entity/{name}/{key}")


def test_signals_from_a_client_then_read_state_and_delete(http: httpx.Client) -> None:
    key = fresh_id("counter")
    assert read(http, "Counter", key).status_code == 404
    for amount in (5, 7, 30):
        assert http.post(f"/api/entity/Counter/{key}/add", json=amount).status_code == 202

    def state() -> object:
        response = read(http, "Counter", key)
        return response.status_code == 200 and response.json()["state"] == 42 and response.json()

    body = wait_for(state, "counter at 42")
    assert body == {"entity": "Counter", "key": key, "state": 42}
    # The extension lower-cases entity names: another spelling is the same entity.
    assert read(http, "counter", key).json()["state"] == 42

    assert http.post(f"/api/entity/Counter/{key}/delete").status_code == 202
    wait_for(lambda: read(http, "Counter", key).status_code == 404, "the deleted counter to be gone")
    # A deleted entity starts again from its default state.
    assert http.post(f"/api/entity/Counter/{key}/add", json=1).status_code == 202
    wait_for(lambda: read(http, "Counter", key).status_code == 200, "a recreated counter")
    assert read(http, "Counter", key).json()["state"] == 1


def test_orchestrator_signals_and_calls_an_entity(http: httpx.Client) -> None:
    key = fresh_id("orch-counter")
    status = run(http, "counter_orchestrator", key)
    assert status["runtimeStatus"] == "Completed", status
    # The signal (add 3) is sent before the call (add 4) from the same orchestration: it is
    # processed first, so the call sees both.
    assert status["output"] == {"after_add": 7, "current": 7}
    assert read(http, "Counter", key).json()["state"] == 7


def test_entity_exception_reaches_the_calling_orchestrator(http: httpx.Client) -> None:
    key = fresh_id("cart")
    status = run(http, "cart_orchestrator", key)
    assert status["runtimeStatus"] == "Completed", status
    output = status["output"]
    assert output["total"] == 3
    assert output["after_remove"] == 2
    assert output["failure"] and "banana" in output["failure"], output
    # The failed operation left the state as it was; a later "clear" deletes the entity.
    assert read(http, "shopping_cart", key).json()["state"] == {"apple": 2}
    assert http.post(f"/api/entity/shopping_cart/{key}/clear").status_code == 202
    wait_for(lambda: read(http, "shopping_cart", key).status_code == 404, "the cleared cart to be gone")
