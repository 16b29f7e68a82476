"""A lane app for the instance-management tests: an orchestration that waits for an event.

`await_approval` says in its custom status that it waits, then returns the `Approval` event's
payload, so a test sees that an event raised through the router really reached the instance.
"""

from __future__ import annotations

from typing import Any, Generator

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def await_approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    context.set_custom_status({"step": "waiting_for_approval"})
    approval = yield context.wait_for_external_event("Approval")
    return {"approval": approval}
