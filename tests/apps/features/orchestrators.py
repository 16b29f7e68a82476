"""Orchestrators: each one exercises one Durable feature, deciding only through the context."""

from datetime import timedelta
from typing import Any, Generator

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

bp = df.Blueprint()

DEFAULT_CITIES = ["Tokyo", "Seattle", "London"]
Orchestration = Generator[TaskBase, Any, Any]


@bp.orchestration_trigger(context_name="context")
def hello_chain(context: df.DurableOrchestrationContext) -> Orchestration:
    cities = context.get_input() or DEFAULT_CITIES
    greetings = []
    for city in cities:
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@bp.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext) -> Orchestration:
    width = context.get_input()
    doubled = yield context.task_all([context.call_activity("double", i) for i in range(width)])
    return {"count": len(doubled), "sum": sum(doubled)}


@bp.orchestration_trigger(context_name="context")
def durable_timer(context: df.DurableOrchestrationContext) -> Orchestration:
    started = context.current_utc_datetime
    fire_at = started + timedelta(seconds=context.get_input())
    yield context.create_timer(fire_at)
    return {
        "started": started.isoformat(),
        "fireAt": fire_at.isoformat(),
        "resumed": context.current_utc_datetime.isoformat(),
    }


@bp.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Orchestration:
    """Waits for the "Approval" event; its custom status says what it is waiting for."""
    context.set_custom_status({"stage": "waiting", "event": "Approval"})
    decision = yield context.wait_for_external_event("Approval")
    context.set_custom_status({"stage": "decided"})
    return {"decision": decision}


@bp.orchestration_trigger(context_name="context")
def parent_of_chain(context: df.DurableOrchestrationContext) -> Orchestration:
    child_id = f"{context.instance_id}-child"
    greetings = yield context.call_sub_orchestrator("hello_chain", context.get_input(), child_id)
    return {"childId": child_id, "greetings": greetings}


@bp.orchestration_trigger(context_name="context")
def retried_activity(context: df.DurableOrchestrationContext) -> Orchestration:
    request = context.get_input()
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=200, max_number_of_attempts=request["maxAttempts"]
    )
    outcome = yield context.call_activity_with_retry(
        "flaky", retry, {"key": context.instance_id, "failures": request["failures"]}
    )
    return outcome


@bp.orchestration_trigger(context_name="context")
def countdown(context: df.DurableOrchestrationContext) -> Orchestration:
    """Counts down by continue_as_new, one generation per step, adding doubled steps."""
    state = context.get_input()
    if state["remaining"] == 0:
        return {"total": state["total"], "generations": state["generations"]}
    doubled = yield context.call_activity("double", state["remaining"])
    context.continue_as_new(
        {
            "remaining": state["remaining"] - 1,
            "total": state["total"] + doubled,
            "generations": state["generations"] + 1,
        }
    )
    return None


@bp.orchestration_trigger(context_name="context")
def http_probe(context: df.DurableOrchestrationContext) -> Orchestration:
    """call_http GET then POST to a URL the caller gives (a test's local server)."""
    url = context.get_input()["url"]
    fetched = yield context.call_http("GET", f"{url}/greeting")
    posted = yield context.call_http("POST", f"{url}/echo", content={"instance": context.instance_id})
    return {
        "getStatus": fetched["statusCode"],
        "getContent": fetched["content"],
        "postStatus": posted["statusCode"],
        "postContent": posted["content"],
    }


@bp.orchestration_trigger(context_name="context")
def slow_task(context: df.DurableOrchestrationContext) -> Orchestration:
    result = yield context.call_activity(
        "slow_echo", {"key": context.instance_id, "seconds": context.get_input()}
    )
    return result
