"""A plain func.FunctionApp holding a df.Blueprint plus ordinary HTTP functions.

Written for this repository after the shape of the official samples-v2/blueprint app: the
durable functions come from the blueprint, the rest is registered on the app itself.
"""

import json
import logging

import azure.functions as func

from durable_blueprints import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@app.route(route="HttpTrigger")
def HttpTrigger(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    name = req.params.get("name")
    if not name:
        try:
            name = req.get_json().get("name")
        except ValueError:
            name = None
    if name:
        return func.HttpResponse(f"Hello, {name}. This HTTP triggered function executed successfully.")
    return func.HttpResponse("Pass a name in the query string or in the request body.", status_code=200)


@app.function_name(name="FileProxy")
@app.route(route="files/{*path}", auth_level=func.AuthLevel.ANONYMOUS, methods=["GET", "PUT"])
def file_proxy(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"path": req.route_params.get("path"), "method": req.method, "query": dict(req.params)}),
        status_code=200,
        mimetype="application/json",
        headers={"X-Compat-Path": req.route_params.get("path") or "", "Cache-Control": "no-store"},
    )


@app.route(route="teapot", auth_level=func.AuthLevel.ANONYMOUS)
def teapot(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "<b>short and stout</b>",
        status_code=418,
        mimetype="text/html",
        charset="utf-8",
        headers={"X-Brew": "earl grey"},
    )
