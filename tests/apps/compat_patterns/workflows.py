"""Orchestrations in the shapes of the official samples: monitor, human interaction, retried
sub-orchestration, custom-object inputs, new_uuid and replay-safe logging."""

import logging
from datetime import timedelta

import azure.durable_functions as df

from models import Order

bp = df.Blueprint()
PRICES = {"apple": 0.5, "pear": 0.75, "melon": 3.0}


# Monitor: poll a job on a durable timer; each episode polls at most twice, then starts afresh
# with continue_as_new so the history stays short.
@bp.orchestration_trigger(context_name="context")
def job_monitor(context: df.DurableOrchestrationContext):
    state = context.get_input()
    for _ in range(2):
        ready = yield context.call_activity("check_job", state)
        state["checks"] += 1
        if ready:
            return {"job": state["job"], "checks": state["checks"], "episodes": state["episodes"] + 1}
        context.set_custom_status({"checks": state["checks"], "episode": state["episodes"] + 1})
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    state["episodes"] += 1
    context.continue_as_new(state)
    return None


@bp.activity_trigger(input_name="state")
def check_job(state: dict) -> bool:
    return state["checks"] + 1 >= state["ready_after"]


# Human interaction: a challenge code, up to three answers, a deadline timer that is cancelled.
@bp.orchestration_trigger(context_name="context")
def sms_verification(context: df.DurableOrchestrationContext):
    request = context.get_input()
    code = yield context.call_activity("send_challenge", request["phone"])
    deadline = context.create_timer(context.current_utc_datetime + timedelta(seconds=request["timeout_seconds"]))
    context.set_custom_status("waiting for the code")
    authorized = False
    attempts = 0
    for _ in range(3):
        answer = context.wait_for_external_event("SmsChallengeResponse")
        winner = yield context.task_any([answer, deadline])
        if winner != answer:
            break
        attempts += 1
        if answer.result == code:
            authorized = True
            break
    if not deadline.is_completed:
        deadline.cancel()
    return {"authorized": authorized, "attempts": attempts}


@bp.activity_trigger(input_name="phone")
def send_challenge(phone: str) -> int:
    return int(phone[-4:])  # a real app would text a random code; tests need to know it


# A sub-orchestration that fails until its attempt counter (an entity) reaches succeed_on.
@bp.orchestration_trigger(context_name="context")
def resilient_parent(context: df.DurableOrchestrationContext):
    request = context.get_input()
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=request["attempts"])
    result = yield context.call_sub_orchestrator_with_retry("flaky_child", retry, request)
    return {"child": result}


@bp.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    request = context.get_input()
    attempt = yield context.call_entity(df.EntityId("attempt_counter", request["key"]), "increment")
    if attempt < request["succeed_on"]:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"succeeded on attempt {attempt}"


@bp.entity_trigger(context_name="context")
def attempt_counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0) + 1
    context.set_state(value)
    context.set_result(value)


# Custom objects: the trigger declares the input type; the activity gets and returns an Order.
@bp.orchestration_trigger(context_name="context", input_type=Order)
def price_order(context: df.DurableOrchestrationContext):
    order = context.get_input()
    if not isinstance(order, Order):
        raise TypeError(f"expected an Order, got {type(order).__name__}")
    priced = yield context.call_activity("compute_total", order)
    if not isinstance(priced, Order):
        raise TypeError(f"activity answered a {type(priced).__name__}")
    # An orchestrator's output must be plain JSON (the SDK checks with json.dumps).
    return {"customer": priced.customer, "total": priced.total}


@bp.orchestration_trigger(context_name="context")
def returns_order(context: df.DurableOrchestrationContext):
    # Not allowed: the SDK cannot serialise a custom object as orchestration output, and the
    # Durable extension fails the instance with its message.
    return Order("nobody", {})
    yield  # a generator, as orchestrators are


@bp.activity_trigger(input_name="order")
def compute_total(order: Order) -> Order:
    total = sum(PRICES[name] * count for name, count in order.items.items())
    return Order(order.customer, order.items, total)


# new_uuid must give the same values on every replay; log lines guarded by is_replaying appear once.
@bp.orchestration_trigger(context_name="context")
def uuid_steps(context: df.DurableOrchestrationContext):
    ids = []
    echoes = []
    for step in range(3):
        logging.info("compat-every-replay %s step %d", context.instance_id, step)
        if not context.is_replaying:
            logging.info("compat-first-run %s step %d", context.instance_id, step)
        ids.append(context.new_uuid())
        echoes.append((yield context.call_activity("echo", ids[-1])))
    return {"ids": ids, "echoes": echoes}


@bp.activity_trigger(input_name="value")
def echo(value):
    return value


# Fodder for the client management calls.
@bp.orchestration_trigger(context_name="context")
def wait_for_go(context: df.DurableOrchestrationContext):
    go = yield context.wait_for_external_event("go")
    return {"input": context.get_input(), "go": go}


@bp.orchestration_trigger(context_name="context")
def doubled(context: df.DurableOrchestrationContext):
    value = context.get_input()
    return (yield context.call_activity("double", value))


@bp.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@bp.orchestration_trigger(context_name="context")
def always_fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("double", 1)
    raise ValueError("this orchestration always fails")
