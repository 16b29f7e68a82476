"""Durable functions declared on a df.Blueprint, registered by function_app.py into a plain
func.FunctionApp (the shape of the official samples-v2/blueprint app)."""

import logging

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()


@bp.function_name(name="StartTravelGreetings")
@bp.route(route="startOrchestrator", methods=["POST", "GET"])
@bp.durable_client_input(client_name="client")
async def start_orchestrator(req: func.HttpRequest, client) -> func.HttpResponse:
    cities = req.params.get("cities")
    instance_id = await client.start_new("greet_cities", None, cities.split(",") if cities else None)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)


@bp.orchestration_trigger(context_name="context")
def greet_cities(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    greetings = []
    for city in cities:
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@bp.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"
