"""Durable entities the way the official Python samples and docs use them (written here, not copied).

A plain v2-model app: no dev host import, it runs under `func start` too. It covers function-based
entities with get_state/set_state/set_result and deletion (`destruct_on_exit`), entity names with
capitals (the extension lower-cases them), an orchestrator that signals and calls entities, an
entity operation that raises, and a client that reads entity state.
"""

import json
import logging

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


# A counter as in the docs' entity article: state defaults to 0, "get" answers the value.
@app.entity_trigger(context_name="context", entity_name="Counter")
def counter_entity(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    elif operation == "delete":
        context.destruct_on_exit()
        return
    elif operation == "get":
        context.set_result(value)
        return
    context.set_state(value)
    context.set_result(value)


# A dict-state entity; unknown operations and bad input raise, as user code would.
@app.entity_trigger(context_name="ctx")
def shopping_cart(ctx: df.DurableEntityContext) -> None:
    cart: dict = ctx.get_state(dict)
    op = ctx.operation_name
    if op == "add_item":
        item = ctx.get_input()
        cart[item["name"]] = cart.get(item["name"], 0) + int(item.get("quantity", 1))
        ctx.set_state(cart)
    elif op == "remove_item":
        name = ctx.get_input()
        if name not in cart:
            raise KeyError(f"no {name} in the cart")
        del cart[name]
        ctx.set_state(cart)
    elif op == "total":
        ctx.set_result(sum(cart.values()))
    elif op == "clear":
        ctx.destruct_on_exit()
    else:
        raise ValueError(f"unknown operation {op}")


@app.orchestration_trigger(context_name="context")
def counter_orchestrator(context: df.DurableOrchestrationContext):
    key = context.get_input()
    entity = df.EntityId("Counter", key)
    context.signal_entity(entity, "add", 3)
    first = yield context.call_entity(entity, "add", 4)
    current = yield context.call_entity(entity, "get")
    return {"after_add": first, "current": current}


@app.orchestration_trigger(context_name="context")
def cart_orchestrator(context: df.DurableOrchestrationContext):
    key = context.get_input()
    cart = df.EntityId("shopping_cart", key)
    yield context.call_entity(cart, "add_item", {"name": "apple", "quantity": 2})
    yield context.call_entity(cart, "add_item", {"name": "pear"})
    total = yield context.call_entity(cart, "total")
    try:
        yield context.call_entity(cart, "remove_item", "banana")
        failure = None
    except Exception as error:  # the entity's exception reaches the orchestrator
        failure = str(error)
    yield context.call_entity(cart, "remove_item", "pear")
    after = yield context.call_entity(cart, "total")
    return {"total": total, "failure": failure, "after_remove": after}


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None, json.loads(body) if body else None)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)


@app.route(route="entity/{entityName}/{entityKey}/{operation}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def signal(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    entity = df.EntityId(req.route_params["entityName"], req.route_params["entityKey"])
    body = req.get_body()
    await client.signal_entity(entity, req.route_params["operation"], json.loads(body) if body else None)
    return func.HttpResponse(status_code=202)


@app.route(route="entity/{entityName}/{entityKey}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def read(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    name, key = req.route_params["entityName"], req.route_params["entityKey"]
    response = await client.read_entity_state(df.EntityId(name, key))
    if not response.entity_exists:
        return func.HttpResponse("Entity not found", status_code=404)
    return func.HttpResponse(
        json.dumps({"entity": name, "key": key, "state": response.entity_state}),
        mimetype="application/json",
    )
