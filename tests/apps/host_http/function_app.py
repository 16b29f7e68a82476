"""A plain HTTP app for the dev host's tests: sync and async triggers, auth levels, routes."""

import asyncio
import json
import os

import azure.functions as func
from blueprint_routes import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.route(route="hello/{name?}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name") or req.params.get("name") or "world"
    return func.HttpResponse(f"hello {name}")


@app.route(route="echo/{*rest}", methods=["POST", "PUT"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    doc = {
        "method": req.method,
        "rest": req.route_params.get("rest"),
        "params": dict(req.params),
        "header": req.headers.get("x-test"),
        "body": req.get_body().decode(),
        "url": req.url.split("?")[0],
    }
    return func.HttpResponse(json.dumps(doc), mimetype="application/json", status_code=201)


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"item {int(req.route_params['id'])}")


@app.route(route="items/{name:alpha}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"named {req.route_params['name']}")


@app.route(route="secured", auth_level=func.AuthLevel.FUNCTION)
def secured(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("function level ok")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin level ok")


@app.route(route="context")
async def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"function": context.function_name, "id": context.invocation_id}))


@app.route(route="plain/{kind}")
def plain(req: func.HttpRequest):
    # Non-HttpResponse returns: the host converts them.
    kind = req.route_params["kind"]
    return {"text": "just text", "json": {"a": [1, 2]}, "none": None}[kind]


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom for the test")


@app.route(route="setting")
def setting(req: func.HttpRequest) -> func.HttpResponse:
    # Shows local.settings.json Values reach the environment and the real environment wins.
    return func.HttpResponse(json.dumps({k: os.environ.get(k) for k in ("GREETING", "OVERRIDDEN")}))


@app.route(route="cwd")
def cwd(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(os.getcwd())
