"""A durable client binding is recognised by its binding type, whichever decorator declared it."""

import textwrap
from pathlib import Path

from devhost.app_loader import load_app


def test_a_plain_durable_client_input_binding_is_a_client_binding(tmp_path: Path) -> None:
    # The worker reads each binding's `type` from the host's binding metadata, not the Python
    # class that declared it (azure-functions-python-worker, azure_functions_worker/functions.py,
    # validate_function_params over binding_info.type): generic_input_binding(type="durableClient")
    # gets the binding JSON like durable_client_input does.
    (tmp_path / "function_app.py").write_text(textwrap.dedent("""
        import azure.durable_functions as df
        import azure.functions as func

        app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

        @app.route(route="plain")
        @app.generic_input_binding(arg_name="starter", type="durableClient")
        async def plain(req: func.HttpRequest, starter: str):
            return starter

        @app.route(route="sdk")
        @app.durable_client_input(client_name="client")
        async def sdk(req: func.HttpRequest, client):
            return None

        @app.route(route="other")
        @app.generic_input_binding(arg_name="blob", type="blob")
        def other(req: func.HttpRequest, blob: str):
            return blob

        @app.activity_trigger(input_name="payload")
        @app.generic_input_binding(arg_name="starter", type="durableClient")
        def work(payload, starter: str):
            return starter
    """), encoding="utf-8")
    functions = load_app(tmp_path)
    http = {f.name: f for f in functions.http}
    assert (http["plain"].client_param, http["sdk"].client_param, http["other"].client_param) == (
        "starter", "client", None,
    )
    assert functions.activity_clients == {"work": "starter"}
