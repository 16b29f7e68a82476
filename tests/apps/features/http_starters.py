"""HTTP functions a client calls: start orchestrations and talk to the counter entity."""

import json

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()


def _body_or_none(req: func.HttpRequest) -> object:
    raw = req.get_body()
    return json.loads(raw) if raw else None


@bp.route(route="orchestrators/{functionName}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_orchestration(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["functionName"], None, _body_or_none(req))
    return client.create_check_status_response(req, instance_id)


@bp.route(route="orchestrators/{functionName}/{instanceId}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_orchestration_with_id(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params["instanceId"], _body_or_none(req)
    )
    return client.create_check_status_response(req, instance_id)


@bp.route(route="wait/{functionName}/{instanceId}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_and_wait(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Starts, then answers with the output if it finishes within ?timeoutMs=, else check-status."""
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params["instanceId"], _body_or_none(req)
    )
    timeout_ms = int(req.params.get("timeoutMs", "10000"))
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=timeout_ms, retry_interval_in_milliseconds=100
    )


@bp.route(route="counters/{key}/{operation}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def signal_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    entity = df.EntityId("counter", req.route_params["key"])
    await client.signal_entity(entity, req.route_params["operation"], _body_or_none(req))
    return func.HttpResponse(status_code=202)


@bp.route(route="counters/{key}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def read_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    state = await client.read_entity_state(df.EntityId("counter", req.route_params["key"]))
    if not state.entity_exists:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(
        json.dumps({"value": state.entity_state}), status_code=200, mimetype="application/json"
    )
