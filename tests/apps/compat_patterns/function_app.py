"""A DFApp whose orchestrations live in a df.Blueprint, plus HTTP functions that drive the
durable client's management calls. Plain v2-model app: it runs under `func start` too."""

import json
from datetime import datetime

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

import workflows
from models import Order

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_blueprint(workflows.bp)


def _json(value, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), status_code=status_code, mimetype="application/json")


def _statuses(req: func.HttpRequest) -> list[OrchestrationRuntimeStatus] | None:
    raw = req.params.get("status")
    return [OrchestrationRuntimeStatus(s) for s in raw.split(",")] if raw else None


@app.function_name(name="StartOrchestration")
@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_orchestration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params.get("instanceId"), json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="orders", methods=["POST"])
@app.durable_client_input(client_name="client")
async def place_order(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    data = req.get_json()
    instance_id = await client.start_new("price_order", None, Order(data["customer"], data["items"]))
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=20000, retry_interval_in_milliseconds=100
    )


@app.route(route="instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def list_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    statuses = _statuses(req)
    if statuses is None:
        found = await client.get_status_all()
    else:
        found = await client.get_status_by(runtime_status=statuses)
    return _json([{"id": s.instance_id, "name": s.name, "status": s.runtime_status.value} for s in found])


@app.route(route="instances", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def purge_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    created_to = req.params.get("to")
    result = await client.purge_instance_history_by(
        created_time_from=datetime.fromisoformat(req.params["from"]),
        created_time_to=datetime.fromisoformat(created_to) if created_to else None,
        runtime_status=_statuses(req),
    )
    return _json({"deleted": result.instances_deleted})


@app.route(route="instances/{instanceId}/{action}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def manage_instance(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id, action = req.route_params["instanceId"], req.route_params["action"]
    try:
        if action == "terminate":
            await client.terminate(instance_id, req.params.get("reason", "stopped by a test"))
            return _json({"terminated": instance_id})
        if action == "rewind":
            await client.rewind(instance_id, "retry")
            return _json({"rewound": instance_id})
        if action == "restart":
            new_id = req.params.get("newId", "true") == "true"
            return _json({"id": await client.restart(instance_id, restart_with_new_instance_id=new_id)})
        if action == "status":
            status = await client.get_status(instance_id)
            return _json(status.to_json() if status.runtime_status else None)
    except Exception as error:  # the client raises with the extension's explanation
        return _json({"error": str(error)}, status_code=409)
    return _json({"error": f"unknown action {action}"}, status_code=400)
