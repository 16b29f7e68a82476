"""Version 1 of the replay test app (tests/devhost/test_replay_*.py): one orchestrator per thing
a replay must rebuild from the Durable HTTP API's merged history.

- `chain`: three activities in a row, with a wait for `approve` between the second and the third
  (where an in-flight instance sits);
- `timed`: an activity, a durable timer, an activity, then the `approve` wait;
- `parent`: a fan-out of two activities, a sub-orchestration (`child`), an activity with retries
  (`flaky` fails its first two attempts), then the `approve` wait;
- `looping`: an activity per round, `continue_as_new` twice, then the `approve` wait;
- `doomed`: an activity, then one with two attempts that both fail: the instance fails after its
  last retry timer.

Its variants (a compatible patch and four breaking changes) are this file with a few lines
edited, listed in tests/apps/replay_variants.py, which fails to build one whose line is gone; the
histories in tests/devhost/histories/ were recorded from this version
(tests/devhost/histories/record.py).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

app = df.DFApp()

Steps = Generator[Any, Any, Any]
TIMER = timedelta(milliseconds=200)
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
RETRY_TWICE = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=2)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext) -> Steps:
    item = context.get_input() or "book"
    reserved = yield context.call_activity("reserve", item)
    charged = yield context.call_activity("charge", reserved)
    approved = yield context.wait_for_external_event("approve")
    shipped = yield context.call_activity("ship", charged)
    return {"shipped": shipped, "approved": approved}


@app.orchestration_trigger(context_name="context")
def timed(context: df.DurableOrchestrationContext) -> Steps:
    reserved = yield context.call_activity("reserve", "clock")
    yield context.create_timer(context.current_utc_datetime + TIMER)
    charged = yield context.call_activity("charge", reserved)
    approved = yield context.wait_for_external_event("approve")
    return {"charged": charged, "approved": approved}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext) -> Steps:
    key = context.get_input() or context.instance_id
    both = yield context.task_all([context.call_activity("reserve", "left"),
                                   context.call_activity("reserve", "right")])
    child = yield context.call_sub_orchestrator("child", both[0])
    flaky = yield context.call_activity_with_retry("flaky", RETRY, key)
    approved = yield context.wait_for_external_event("approve")
    return {"both": both, "child": child, "flaky": flaky, "approved": approved}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext) -> Steps:
    charged = yield context.call_activity("charge", context.get_input())
    return charged


@app.orchestration_trigger(context_name="context")
def looping(context: df.DurableOrchestrationContext) -> Steps:
    round_number = context.get_input() or 0
    yield context.call_activity("reserve", f"round {round_number}")
    if round_number < 2:
        context.continue_as_new(round_number + 1)
        return None
    approved = yield context.wait_for_external_event("approve")
    return {"rounds": round_number + 1, "approved": approved}


@app.orchestration_trigger(context_name="context")
def doomed(context: df.DurableOrchestrationContext) -> Steps:
    yield context.call_activity("reserve", "doomed")
    return (yield context.call_activity_with_retry("always_fails", RETRY_TWICE, None))


@app.activity_trigger(input_name="item")
def reserve(item: str) -> str:
    return f"reserved {item}"


@app.activity_trigger(input_name="what")
def charge(what: str) -> str:
    return f"charged for {what}"


@app.activity_trigger(input_name="what")
def ship(what: str) -> str:
    return f"shipped {what}"


_FLAKY_CALLS: dict[str, int] = {}


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    # Fails the first two attempts per key, so the history holds failed attempts and retry timers.
    calls = _FLAKY_CALLS[key] = _FLAKY_CALLS.get(key, 0) + 1
    if calls < 3:
        raise RuntimeError(f"flaky attempt {calls} failed")
    return f"flaky ok after {calls} attempts"


@app.activity_trigger(input_name="what")
def always_fails(what: str) -> str:
    raise RuntimeError("always fails")
