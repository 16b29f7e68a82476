"""The dev host's access log: one line per HTTP function call with --verbose, none without.

At INFO the line cost the router's hot path a formatted, flushed line per forwarded start
(docs/performance.md); a failed call still logs at INFO, with its traceback.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devhost import launcher
from devhost.ports import free_port
from devhost.server import LOG_LEVEL_SETTING, debug_logging_requested

APP = Path(__file__).resolve().parent.parent / "apps" / "host_http"

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class _VerboseCommand(launcher.HostCommand):
    def argv(self) -> list[str]:
        return [*super().argv(), "--verbose"]


def _output_after_calls(verbose: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="devhost-access-") as work:
        kind = _VerboseCommand if verbose else launcher.HostCommand
        command = kind(app_dir=APP, port=free_port(), data_dir=Path(work) / "data",
                       log_path=Path(work) / "out.log", env=launcher.host_env())
        process = launcher.start(command)
        try:
            with httpx.Client(base_url=command.base_url, trust_env=False, timeout=10) as http:
                assert http.get("/api/hello/ada").status_code == 200
                assert http.get("/api/boom").status_code == 500
        finally:
            launcher.stop(process)
        return command.log_path.read_text()


@pytest.fixture(scope="module", params=[False, True], ids=["quiet", "verbose"])
def output(request: pytest.FixtureRequest) -> Iterator[tuple[bool, str]]:
    yield request.param, _output_after_calls(request.param)


def test_a_successful_call_is_in_the_access_log_only_with_verbose(output: tuple[bool, str]) -> None:
    verbose, text = output
    assert ("Executed 'Functions.hello' (Succeeded" in text) is verbose


def test_a_failed_call_is_logged_either_way(output: tuple[bool, str]) -> None:
    _, text = output
    assert "Executed 'Functions.boom' (Failed" in text
    assert "RuntimeError: boom for the test" in text


@pytest.mark.parametrize("value, on", [("Debug", True), ("trace", True), ("Information", False), ("", False)])
def test_the_functions_hosts_log_level_setting_turns_the_access_log_on(value: str, on: bool) -> None:
    # Lanes are started by the local provisioner, not by their caller: an environment variable
    # (the Functions host's override of host.json logging.logLevel.default) reaches them.
    assert debug_logging_requested({LOG_LEVEL_SETTING: value}) is on
