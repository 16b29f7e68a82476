"""HTTP triggers through a real dev host process and real sockets."""

import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost import launcher
from devhost.testing import HostHandle, HostStartError, running_host

APPS = Path(__file__).resolve().parent.parent / "apps"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host() -> Iterator[HostHandle]:
    # --enableAuth: the key checks below are Azure's; tests/devhost/test_host_auth.py covers the default.
    with running_host(APPS / "host_http", env={"OVERRIDDEN": "from the environment"}, enable_auth=True) as handle:
        yield handle


@pytest.fixture
def client(host: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as c:
        yield c


def test_ping_status_and_landing_page(host: HostHandle, client: httpx.Client) -> None:
    assert client.get("/admin/host/ping").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/admin/host/status").status_code == 401
    assert client.get("/admin/host/status", headers={"x-functions-key": host.function_key}).status_code == 401
    status = client.get("/admin/host/status", params={"code": host.master_key})
    assert status.status_code == 200 and status.json()["state"] == "Running"


def test_sync_function_with_route_parameter_and_query(client: httpx.Client) -> None:
    assert client.get("/api/hello/ada").text == "hello ada"
    assert client.get("/api/hello", params={"name": "bob"}).text == "hello bob"
    assert client.get("/API/Hello/").text == "hello world"


def test_async_function_gets_method_catch_all_query_headers_and_body(
    host: HostHandle, client: httpx.Client
) -> None:
    response = client.put("/api/echo/a/b/c", params={"x": "1"}, headers={"x-test": "yes"}, content=b"payload")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "method": "PUT",
        "rest": "a/b/c",
        "params": {"x": "1"},
        "header": "yes",
        "body": "payload",
        "url": f"{host.base_url}/api/echo/a/b/c",
    }


def test_methods_and_constraints_select_the_function(client: httpx.Client) -> None:
    assert client.get("/api/echo/x").status_code == 404  # echo takes POST and PUT only
    assert client.get("/api/items/12").text == "item 12"
    assert client.get("/api/items/abc").text == "named abc"
    assert client.get("/api/items/a1").status_code == 404
    assert client.get("/api/nothing-here").status_code == 404
    assert client.get("/elsewhere/hello").status_code == 404


def test_function_and_admin_auth_levels(host: HostHandle, client: httpx.Client) -> None:
    keys = json.loads((host.data_dir / "keys.json").read_text())
    own_key = keys["functions"]["secured"]["default"]
    other_function_key = keys["functions"]["hello"]["default"]
    for path, key, expected in [
        ("/api/secured", None, 401),
        ("/api/secured", "wrong", 401),
        ("/api/secured", other_function_key, 401),
        ("/api/secured", own_key, 200),
        ("/api/secured", host.function_key, 200),
        ("/api/secured", host.master_key, 200),
        ("/api/secured", host.system_key, 401),
        ("/api/admin-only", host.function_key, 401),
        ("/api/admin-only", host.master_key, 200),
    ]:
        by_header = client.get(path, headers={"x-functions-key": key} if key else {})
        by_query = client.get(path, params={"code": key} if key else {})
        assert (by_header.status_code, by_query.status_code) == (expected, expected), (path, expected)


def test_context_argument_only_when_asked_for(client: httpx.Client) -> None:
    body = client.get("/api/context").json()
    assert body["function"] == "with_context" and len(body["id"]) == 36


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        ("text", 200, "text/plain", b"just text"),
        ("json", 200, "application/json", b'{"a": [1, 2]}'),
        ("none", 204, None, b""),
    ],
)
def test_non_http_response_returns_are_converted(
    client: httpx.Client, kind: str, status: int, content_type: str | None, body: bytes
) -> None:
    response = client.get(f"/api/plain/{kind}")
    assert response.status_code == status
    assert response.content == body
    if content_type:
        assert response.headers["content-type"].startswith(content_type)


def test_unhandled_exception_is_a_500_and_a_log_line(host: HostHandle, client: httpx.Client) -> None:
    assert client.get("/api/hello/ada").status_code == 200  # a success: no line without --verbose
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert b"boom for the test" not in response.content
    output = host.output()
    assert "RuntimeError: boom for the test" in output
    assert "Executed 'Functions.boom' (Failed" in output
    # A success is in the access log only, at DEBUG (--verbose): tests/devhost/test_access_log.py.
    assert "Executed 'Functions.hello' (Succeeded" not in output


def test_settings_reach_the_app_and_it_runs_in_its_directory(client: httpx.Client) -> None:
    assert client.get("/api/setting").json() == {
        "GREETING": "from local settings",
        "OVERRIDDEN": "from the environment",
    }
    assert Path(client.get("/api/cwd").text) == APPS / "host_http"


def test_startup_prints_routes_and_no_secret(host: HostHandle) -> None:
    output = host.output()
    assert f"hello: [GET] {host.base_url}/api/hello/{{name?}}" in output
    assert f"Host started: {host.base_url}" in output
    for secret in (host.master_key, host.function_key, host.system_key):
        assert secret not in output


def test_stop_is_clean_and_restart_keeps_port_and_keys(tmp_path: Path) -> None:
    with running_host(APPS / "host_http", data_dir=tmp_path / "data") as handle:
        master = handle.master_key
        assert handle.stop() == 0
        assert "Host stopped" in handle.output()
        handle.restart()
        assert handle.master_key == master
        assert httpx.get(f"{handle.base_url}/api/hello/again").text == "hello again"
        assert handle.kill() == -signal.SIGKILL


def test_a_broken_app_fails_to_start_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\nraise ValueError('bad app')\n")
    with pytest.raises(HostStartError, match="bad app"):
        with running_host(tmp_path):
            pass


def test_blueprint_functions_from_a_sibling_module(client: httpx.Client) -> None:
    assert client.get("/api/from-blueprint").text == "blueprint ok"


def test_a_taken_port_is_reported_with_exit_code_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = launcher.HostCommand(
            APPS / "host_http", port, tmp_path / "data", tmp_path / "unused.log", launcher.host_env()
        )
        # Run to its end in the foreground: the error goes to stderr and the exit code is the CLI's.
        run = subprocess.run(command.argv(), env=dict(command.env), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr


def test_an_asgi_app_behind_the_catch_all_route() -> None:
    with running_host(APPS / "host_asgi") as handle:
        response = httpx.post(f"{handle.base_url}/api/items/7", params={"q": "x"}, content=b"data")
        assert (response.status_code, response.text) == (200, "POST /api/items/7 q=x data")


def test_a_host_process_tunes_its_collector_and_a_test_process_keeps_its_own() -> None:
    # tune_collector runs in the host's own process (devhost.cli), never in one that runs a
    # DevHost in-process (the router harness): checked in a fresh interpreter.
    import sys
    import textwrap

    script = textwrap.dedent("""
        import gc
        from devhost.server import COLLECTOR_THRESHOLDS, tune_collector
        before = gc.get_threshold()
        tune_collector()
        print(before == (700, 10, 10), gc.get_threshold() == COLLECTOR_THRESHOLDS, gc.get_freeze_count() > 1000)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=launcher.REPO_ROOT)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr
