"""A bad build of the sample order app: it loads and serves, but every `process_order` fails.

What a progressive ramp exists for: the lane passes every readiness check (its host starts, its
Durable HTTP API answers), and only the orchestrations it runs show the fault. Used by the demo's
second act and tests/e2e/test_ramp.py, released as a new MINOR with a ramp that must abort.
"""

from __future__ import annotations

from typing import Any, Generator

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def process_order(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    order = context.get_input() or {}
    reservation = yield context.call_activity("reserve_stock", order)
    raise RuntimeError(f"this build cannot charge payments (after {reservation})")


@app.activity_trigger(input_name="order")
def reserve_stock(order: dict) -> str:
    return f"reserved {order.get('quantity', 1)} x {order.get('item', 'widget')}"
