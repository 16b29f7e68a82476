"""Sample order app 1.1.0: a breaking release, so it gets its own lane (1.1) and its own app.

Two changes would break an instance started on 1.0 if it replayed here:
- the orchestrator charges the payment before waiting for the pickup (a new step in the history);
- `reserve_stock` takes order lines (`{"lines": [{"sku", "quantity"}]}`) instead of one item.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Generator

import azure.durable_functions as df
import azure.functions as func

APP_VERSION = "1.1.0"
UNIT_PRICE_CENTS = 250

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
SHIPPED_ORDERS = df.EntityId("shipped_orders", "all")


@app.orchestration_trigger(context_name="context")
def process_order(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    order = context.get_input() or {}
    order_id = str(order.get("order_id") or context.instance_id)
    lines = order.get("lines") or [
        {"sku": order.get("item", "widget"), "quantity": int(order.get("quantity", 1))}
    ]
    reservation = yield context.call_activity("reserve_stock", {"lines": lines})
    payment = yield context.call_activity("charge_payment", {"order_id": order_id, "lines": lines})
    context.set_custom_status({"step": "waiting_for_pickup", "order_id": order_id})
    pickup_at = context.current_utc_datetime + timedelta(seconds=float(order.get("wait_seconds", 5)))
    yield context.create_timer(pickup_at)
    shipment = yield context.call_activity("ship_order", order_id)
    # Entities live forever (their instance "@shipped_orders@all" stays Running): a lane must
    # drain and be deleted all the same.
    context.signal_entity(SHIPPED_ORDERS, "add", 1)
    context.set_custom_status({"step": "done", "order_id": order_id})
    return {
        "order_id": order_id,
        "reservation": reservation,
        "payment": payment,
        "shipment": shipment,
        "app_version": APP_VERSION,
    }


@app.activity_trigger(input_name="request")
def reserve_stock(request: dict) -> str:
    items = ", ".join(f"{line['quantity']} x {line['sku']}" for line in request["lines"])
    return f"reserved {items}"


@app.activity_trigger(input_name="request")
def charge_payment(request: dict) -> dict:
    cents = sum(int(line["quantity"]) * UNIT_PRICE_CENTS for line in request["lines"])
    return {"order_id": request["order_id"], "charged_cents": cents}


@app.activity_trigger(input_name="order_id")
def ship_order(order_id: str) -> str:
    return f"order {order_id} shipped, carrier notified"


@app.entity_trigger(context_name="context")
def shipped_orders(context: df.DurableEntityContext) -> None:
    count = context.get_state(lambda: 0)
    if context.operation_name == "add":
        count += context.get_input() or 1
        context.set_state(count)
    context.set_result(count)


@app.route(route="version", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def version(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"version": APP_VERSION}), mimetype="application/json")
