"""The dev host's one error family, its HTTP table and its one set of runtime statuses."""

import pytest

import devhost.engine.errors as engine_errors
import devhost.errors as host_errors
from devhost.durable_api import ENGINE_ERROR_STATUS, engine_error_status, instance_query
from devhost.engine import IN_FLIGHT, TERMINAL, RuntimeStatus
from devhost.errors import DevHostError


def error_classes() -> list[type[Exception]]:
    found = {
        value
        for module in (host_errors, engine_errors)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    return sorted(found, key=lambda kind: kind.__name__)


@pytest.mark.parametrize("kind", error_classes(), ids=lambda kind: kind.__name__)
def test_every_error_is_a_dev_host_error_with_a_one_line_docstring(kind: type[Exception]) -> None:
    assert issubclass(kind, DevHostError)
    assert kind.__doc__ and "\n" not in kind.__doc__.strip()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (engine_errors.InstanceNotFound("x"), 404),
        (engine_errors.InstanceExists("x"), 500),  # OrchestrationAlreadyExistsException
        (engine_errors.InstanceNotRunning("x"), 410),
        (engine_errors.UnknownFunction("x"), 400),  # the extension's ArgumentException
        (engine_errors.EngineError("x"), 500),
    ],
)
def test_engine_errors_map_to_http_in_one_table(error: engine_errors.EngineError, status: int) -> None:
    assert engine_error_status(error) == status


def test_the_table_covers_every_engine_error() -> None:
    kinds = {k for k in error_classes() if issubclass(k, engine_errors.EngineError)}
    assert kinds - {engine_errors.EngineError} == set(ENGINE_ERROR_STATUS)


def test_statuses_are_in_flight_or_terminal_never_both() -> None:
    assert IN_FLIGHT | TERMINAL == set(RuntimeStatus)
    assert not IN_FLIGHT & TERMINAL


@pytest.mark.parametrize(
    ("params", "statuses", "top"),
    [
        # HttpApiHandler.cs TryGetIEnumerableQueryParameterValue: Enum.TryParse is case-sensitive
        # and drops what it cannot read; names and numbers both read.
        ({"runtimeStatus": "Running,Nonsense"}, ["Running"], 100),
        ({"runtimeStatus": "pending,COMPLETED"}, None, 100),
        ({"runtimeStatus": " Failed , 1"}, ["Failed", "Completed"], 100),
        ({"RUNTIMESTATUS": "Running", "Top": "5"}, ["Running"], 5),  # names in any case
        ({"top": "many"}, None, 100),  # int.TryParse fails: the default page size
        ({"top": "-3"}, None, 100),
    ],
)
def test_instance_query_drops_what_the_extension_cannot_parse(
    params: dict[str, str], statuses: list[str] | None, top: int
) -> None:
    query = instance_query(params, None)
    assert (query.runtime_status, query.top) == (statuses, top)
