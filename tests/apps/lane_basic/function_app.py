"""A minimal lane app for the router's lane-edge tests: one orchestrator, one activity.

`greet` calls `say_hello`, then waits for an `Approval` event when its input asks it to, so a
test can hold an instance in flight, reach it through the Durable HTTP API, and release it.
"""

from __future__ import annotations

from typing import Any, Generator

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    request = context.get_input() or {}
    greeting = yield context.call_activity("say_hello", request.get("city", "world"))
    approved = None
    if request.get("wait_for_approval"):
        context.set_custom_status({"step": "waiting_for_approval"})
        approved = yield context.wait_for_external_event("Approval")
    return {"greeting": greeting, "approved": approved}


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}"
