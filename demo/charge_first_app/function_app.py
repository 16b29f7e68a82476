"""The sample order app 1.1.0 (samples/1.1.0) with one change, shipped as a "patch": it charges the
payment before it reserves the stock.

Harmless for new orders, fatal for the ones waiting on lane 1.1: their histories say the first
activity was `reserve_stock`, and replayed here the orchestrator asks for `charge_payment` first.
Used by the demo's second act: `check-patch` names the diverging instance, the router refuses the
patch (ROUTER_PATCH_GATE=require), and the same build is released as a new MINOR with a ramp.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Generator

import azure.durable_functions as df
import azure.functions as func

APP_VERSION = "1.1.1 (charges first)"
UNIT_PRICE_CENTS = 250

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def process_order(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    order = context.get_input() or {}
    order_id = str(order.get("order_id") or context.instance_id)
    lines = order.get("lines") or [
        {"sku": order.get("item", "widget"), "quantity": int(order.get("quantity", 1))}
    ]
    # The change: charge first (1.1.0 reserves first). Reordered calls break in-flight replays.
    payment = yield context.call_activity("charge_payment", {"order_id": order_id, "lines": lines})
    reservation = yield context.call_activity("reserve_stock", {"lines": lines})
    context.set_custom_status({"step": "waiting_for_pickup", "order_id": order_id})
    pickup_at = context.current_utc_datetime + timedelta(seconds=float(order.get("wait_seconds", 5)))
    yield context.create_timer(pickup_at)
    shipment = yield context.call_activity("ship_order", order_id)
    context.set_custom_status({"step": "done", "order_id": order_id})
    return {"order_id": order_id, "reservation": reservation, "payment": payment, "shipment": shipment,
            "app_version": APP_VERSION}


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
