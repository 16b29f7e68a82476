"""Key checks as `func start` does them: bypassed by default, enforced with `--enableAuth`.

Core Tools without --enableAuth registers CliAuthenticationHandler for the host's key scheme
(azure-functions-core-tools, src/Azure.Functions.Cli/Actions/HostActions/Startup.cs and
WebHost/Security/CliAuthenticationHandler.cs): every request is authenticated at auth level
Admin whatever key it carries, so functions of every auth level, the extension's webhooks
(`/runtime/webhooks/durabletask/...`, system key on Azure) and `/admin/host/status` answer
without one. With --enableAuth it registers the host's own key authentication.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost import launcher
from devhost.cli import _parser
from devhost.testing import HostHandle, running_host

APPS = Path(__file__).resolve().parent.parent / "apps"
WEBHOOK = "/runtime/webhooks/durabletask"
KEYED_PATHS = ("/api/secured", "/api/admin-only", "/admin/host/status", "/admin/functions", f"{WEBHOOK}/instances")


@pytest.fixture(scope="module")
def host() -> Iterator[HostHandle]:
    with running_host(APPS / "host_http") as handle:
        yield handle


@pytest.mark.e2e
@pytest.mark.parametrize("path", KEYED_PATHS)
def test_without_enable_auth_every_route_answers_without_a_key(host: HostHandle, path: str) -> None:
    assert httpx.get(host.base_url + path).status_code == 200
    # The bypass ignores the key altogether, as CliAuthenticationHandler does: a wrong one passes.
    assert httpx.get(host.base_url + path, params={"code": "wrong"}).status_code == 200


@pytest.mark.e2e
def test_admin_functions_lists_each_function_with_its_trigger(host: HostHandle) -> None:
    # As FunctionsController.List answers (azure-functions-host, src/WebJobs.Script.WebHost/
    # Controllers/FunctionsController.cs): the readiness check looks for orchestrators there.
    listed = httpx.get(host.base_url + "/admin/functions").json()
    assert listed and all(f["config"]["bindings"][0]["type"] == "httpTrigger" for f in listed)
    assert "secured" in {f["name"] for f in listed}


@pytest.mark.e2e
def test_the_log_says_keys_are_not_checked_and_which_hub_rules_apply(host: HostHandle) -> None:
    assert "Keys are not checked" in host.output()
    assert "storageProvider AzureStorage: Azure Storage's task hub name rules apply" in host.output()


@pytest.mark.e2e
def test_enable_auth_refuses_a_missing_key_everywhere(tmp_path: Path) -> None:
    with running_host(APPS / "host_http", enable_auth=True) as keyed:
        for path in KEYED_PATHS:
            assert httpx.get(keyed.base_url + path).status_code == 401, path
        assert httpx.get(keyed.base_url + "/admin/host/ping").status_code == 200
        assert "Keys are checked as on Azure (--enableAuth)" in keyed.output()


@pytest.mark.parametrize("flag", ["--enableAuth", "--enable-auth"])
def test_both_spellings_of_the_flag(flag: str) -> None:
    assert _parser().parse_args(["start", flag]).enable_auth is True
    assert _parser().parse_args(["start"]).enable_auth is False


def test_host_command_passes_the_flag(tmp_path: Path) -> None:
    common = dict(app_dir=tmp_path, port=1, data_dir=tmp_path, log_path=tmp_path / "log", env={})
    assert "--enableAuth" not in launcher.HostCommand(**common).argv()  # type: ignore[arg-type]
    assert launcher.HostCommand(**common, enable_auth=True).argv()[-1] == "--enableAuth"  # type: ignore[arg-type]
