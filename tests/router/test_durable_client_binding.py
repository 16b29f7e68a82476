"""The router's hot routes reuse one Durable client built from the host's binding JSON."""

import azure.durable_functions as df
import pytest

from devhost.durable_urls import client_binding_json

from router.runtime import DurableClients


def binding(port: int, key: str = "system-key") -> str:
    # The binding text as the dev host passes it (devhost.durable_urls, the fields of the
    # Functions host's durableClient binding that the SDK's DurableOrchestrationBindings reads).
    return client_binding_json(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}/durabletask/",
                               "RouterHub", key)


def test_one_client_per_binding_text_and_a_new_one_when_it_changes() -> None:
    clients = DurableClients()
    first = clients.client(binding(7071))
    assert isinstance(first, df.DurableOrchestrationClient) and first._orchestration_bindings.task_hub_name == "RouterHub"
    assert clients.client(binding(7071)) is first
    assert clients.client(binding(7071).encode()) is first  # the worker may hand over bytes
    rotated = clients.client(binding(7071, key="rotated"))
    assert rotated is not first
    assert clients.client(binding(7071, key="rotated")) is rotated


@pytest.mark.parametrize("bad", ["", None, 42])
def test_anything_but_the_binding_text_is_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="binding JSON text"):
        DurableClients().client(bad)  # type: ignore[arg-type]
