"""A durable_client_input stacked on a function whose parameters lack that name: the Python
worker refuses to index this app (tests/devhost/test_host_app_loader.py)."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start")
@app.durable_client_input(client_name="starter")
async def start(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")
