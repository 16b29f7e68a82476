import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devhost.app_loader import ALL_METHODS, load_app
from devhost.errors import AppLoadError
from devhost.launcher import REPO_ROOT
from devhost.keys import AuthLevel


def app_dir(tmp_path: Path, source: str) -> Path:
    (tmp_path / "function_app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return tmp_path


def test_discovers_every_kind_with_name_overrides_and_auth_levels(tmp_path: Path) -> None:
    functions = load_app(
        app_dir(
            tmp_path,
            """
        import azure.durable_functions as df
        import azure.functions as func

        app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
        bp = df.Blueprint()

        @bp.route(route="start/{name}", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
        @bp.durable_client_input(client_name="starter")
        async def start(req: func.HttpRequest, starter, context: func.Context):
            return None

        @app.route(route="plain")
        def plain(req: func.HttpRequest):
            return "x"

        @app.function_name("Renamed")
        @app.orchestration_trigger(context_name="ctx")
        def orchestrator(ctx):
            return 1

        @app.activity_trigger(input_name="payload", activity="DoWork")
        def work(payload):
            return payload

        @app.entity_trigger(context_name="context", entity_name="MyCounter")
        def counter(context):
            pass

        @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
        def every_five_minutes(timer):
            pass

        app.register_functions(bp)
    """,
        )
    )
    http = {f.name: f for f in functions.http}
    assert set(http) == {"start", "plain"}
    assert (http["start"].client_param, http["start"].wants_context, http["start"].is_async) == (
        "starter",
        True,
        True,
    )
    assert (http["start"].auth_level, http["start"].methods) == (AuthLevel.ADMIN, frozenset({"POST"}))
    assert (http["plain"].auth_level, http["plain"].methods, http["plain"].is_async) == (
        AuthLevel.FUNCTION,
        ALL_METHODS,
        False,
    )
    assert http["plain"].route.match("plain") == {}
    assert list(functions.orchestrators) == ["Renamed"]
    assert functions.activities["DoWork"][1] == "payload"
    registry = functions.registry()
    assert registry.entity("mycounter").name == "MyCounter"
    assert functions.other == {"every_five_minutes": "timerTrigger"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "defines no function app"),
        (
            "import azure.functions as func\na = func.FunctionApp()\nb = func.FunctionApp()\n",
            "defines 2 function apps",
        ),
        ("raise ImportError('missing dependency')\n", "missing dependency"),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n"
            "@app.route(route='a')\ndef f(req): pass\n"
            "@app.function_name('f')\n@app.route(route='b')\ndef g(req): pass\n",
            "unique",
        ),
        (
            "import azure.functions as func\napp = func.FunctionApp()\n"
            "@app.route(route='a/{x:nope}')\ndef f(req): pass\n",
            "nope",
        ),
    ],
)
def test_bad_apps_fail_with_a_clear_message(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_app(app_dir(tmp_path, source))


def test_a_missing_function_app_py_is_explained(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match="function_app.py not found"):
        load_app(tmp_path)


def test_a_binding_without_its_parameter_stops_the_host_with_the_workers_message() -> None:
    # azure-functions-python-worker, azure_functions_worker/functions.py: FunctionLoadError.
    app_dir = Path(__file__).resolve().parent.parent / "apps" / "mismatched_binding"
    result = subprocess.run([sys.executable, "-m", "devhost", "start", str(app_dir), "--port", "0"],
                            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 1
    assert ("FunctionLoadError: cannot load the start function: the following parameters are "
            "declared in function.json but not in Python: {'starter'}") in result.stderr
