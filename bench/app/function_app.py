"""The bench's workloads as a Durable Functions app (the same shapes as bench/durabletask_side.py).

A plain v2-model app: the bench serves it with `python -m devhost start`; `func start` would too.
"""

from typing import Any, Generator

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

app = df.DFApp()

CITIES = ["Tokyo", "Seattle", "London"]


@app.orchestration_trigger(context_name="context")
def hello_chain(context: df.DurableOrchestrationContext) -> Generator[TaskBase, Any, list[str]]:
    greetings = []
    for city in CITIES:
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext) -> Generator[TaskBase, Any, int]:
    width = context.get_input()
    doubled = yield context.task_all([context.call_activity("double", i) for i in range(width)])
    return sum(doubled)


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return 2 * value
