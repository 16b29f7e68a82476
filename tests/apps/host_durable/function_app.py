"""A small Durable Functions app for the dev host's tests: every DurableOrchestrationClient
call behind one HTTP function, a sequence, an external event wait and a counter entity."""

import json
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params.get("instanceId"), body
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="wait/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_and_wait(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["functionName"], None, body)
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=30000, retry_interval_in_milliseconds=100
    )


def _status_json(status: Any) -> dict:
    return {
        "exists": bool(status),
        "name": status.name,
        "runtimeStatus": status.runtime_status.value if status.runtime_status else None,
        "input": status.input_,
        "output": status.output,
        "customStatus": status.custom_status,
        "historyLength": len(status.history) if status.history else 0,
    }


@app.route(route="client/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_call(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """One DurableOrchestrationClient method per `op`, arguments in the JSON body."""
    op = req.route_params["op"]
    args = req.get_json() if req.get_body() else {}
    iid = args.get("id")
    result: object = None
    try:
        if op == "start":
            result = await client.start_new(args["name"], iid, args.get("input"))
        elif op == "status":
            result = _status_json(await client.get_status(iid, show_history=True, show_input=True))
        elif op == "raise":
            await client.raise_event(iid, args["event"], args.get("data"))
        elif op in ("terminate", "suspend", "resume"):
            await getattr(client, op)(iid, args.get("reason", "test"))
        elif op == "query":
            statuses = await client.get_status_by(
                runtime_status=[df.OrchestrationRuntimeStatus(s) for s in args.get("statuses", [])] or None,
                created_time_from=datetime(2000, 1, 1, tzinfo=UTC),
            )
            result = sorted(s.instance_id for s in statuses)
        elif op == "all":
            result = sorted(s.instance_id for s in await client.get_status_all())
        elif op == "purge":
            result = (await client.purge_instance_history(iid)).instances_deleted
        elif op == "purge_by":
            purged = await client.purge_instance_history_by(
                created_time_from=datetime(2000, 1, 1, tzinfo=UTC),
                runtime_status=[df.OrchestrationRuntimeStatus(s) for s in args["statuses"]],
            )
            result = purged.instances_deleted
        elif op == "restart":
            result = await client.restart(iid, args.get("new_id", True))
        elif op == "rewind":
            await client.rewind(iid, "test")
        elif op == "signal":
            await client.signal_entity(
                df.EntityId(args["entity"], args["key"]), args["operation"], args.get("input")
            )
        elif op == "read":
            state = await client.read_entity_state(df.EntityId(args["entity"], args["key"]))
            result = {"exists": state.entity_exists, "state": state.entity_state}
        elif op == "payload":
            result = client.create_http_management_payload(iid)
        else:
            return func.HttpResponse(f"unknown op {op}", status_code=400)
    except Exception as exc:  # the SDK's error, shown to the test
        return func.HttpResponse(
            json.dumps({"error": str(exc)}), status_code=409, mimetype="application/json"
        )
    return func.HttpResponse(json.dumps({"result": result}), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for name in names:
        results.append((yield context.call_activity("say_hello", name)))
    context.set_custom_status({"done": len(results)})
    return results


@app.orchestration_trigger(context_name="context")
def wait_for_approval(context: df.DurableOrchestrationContext):
    approval = yield context.wait_for_external_event("Approval")
    return {"approved": approval, "input": context.get_input()}


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}!"


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    context.set_state(value)
    context.set_result(value)
