"""Randomly shaped orchestrations (seeded, so repeatable) mix every kind of task; each output is
known in advance. Run clean and under fault injection, they catch any task-numbering slip."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.engine import EngineOptions, FaultOptions
from devhost.engine.testing import registry_from_app, running_engine, wait_for_status

app = df.DFApp()
calls: dict[str, int] = {}
calls_lock = threading.Lock()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5, max_number_of_attempts=4)


@app.activity_trigger(input_name="number")
def square(number: int) -> int:
    return number * number


@app.activity_trigger(input_name="payload")
def flaky(payload: dict) -> str:
    with calls_lock:
        calls[payload["key"]] = calls.get(payload["key"], 0) + 1
        seen = calls[payload["key"]]
    if seen <= payload["fails"]:
        raise RuntimeError(f"{payload['key']} fails call {seen}")
    return "ok"


@app.entity_trigger(context_name="context")
def total(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0) + context.get_input()
    context.set_state(value)
    context.set_result(value)


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("square", context.get_input())) + 1


@app.orchestration_trigger(context_name="context")
def plan_runner(context: df.DurableOrchestrationContext):
    plan = context.get_input()
    key = plan["key"]
    results: list[Any] = []
    background = []
    for index, step in enumerate(plan["steps"]):
        kind = step["kind"]
        tag = f"{key}-{index}"
        if kind == "activity":
            results.append((yield context.call_activity("square", step["n"])))
        elif kind == "retry":
            payload = {"key": tag, "fails": step["fails"]}
            results.append((yield context.call_activity_with_retry("flaky", RETRY, payload)))
        elif kind == "fan":
            tasks = []
            for part, fails in enumerate(step["parts"]):
                if fails < 0:
                    tasks.append(context.call_activity("square", part))
                else:
                    payload = {"key": f"{tag}-{part}", "fails": fails}
                    tasks.append(context.call_activity_with_retry("flaky", RETRY, payload))
            results.append((yield context.task_all(tasks)))
        elif kind == "timer":
            yield context.create_timer(context.current_utc_datetime)
            results.append("timer")
        elif kind == "sub":
            results.append((yield context.call_sub_orchestrator("child", step["n"])))
        elif kind == "entity":
            entity = df.EntityId("total", key)
            context.signal_entity(entity, "add", step["n"])
            results.append((yield context.call_entity(entity, "add", 0)))
        elif kind == "background":
            # A retried task left running while later steps yield their own tasks.
            task = context.call_activity_with_retry("flaky", RETRY,
                                                    {"key": tag, "fails": step["fails"]})
            background.append(task)
            yield context.task_any([task, context.call_activity("square", 0)])
            results.append("started")
    for task in background:
        results.append((yield task))
    return results


def make_plan(rng: random.Random, key: str) -> tuple[dict[str, Any], list[Any]]:
    steps: list[dict[str, Any]] = []
    expected: list[Any] = []
    entity_total = 0
    finals: list[Any] = []
    for _ in range(rng.randint(3, 7)):
        kind = rng.choice(["activity", "retry", "fan", "timer", "sub", "entity", "background",
                           "background"])
        if kind == "activity":
            n = rng.randint(0, 9)
            steps.append({"kind": kind, "n": n})
            expected.append(n * n)
        elif kind == "retry":
            steps.append({"kind": kind, "fails": rng.randint(0, 2)})
            expected.append("ok")
        elif kind == "fan":
            parts = [rng.choice([-1, -1, 0, 1, 2]) for _ in range(rng.randint(1, 6))]
            steps.append({"kind": kind, "parts": parts})
            expected.append([part * part if fails < 0 else "ok"
                             for part, fails in enumerate(parts)])
        elif kind == "timer":
            steps.append({"kind": kind})
            expected.append("timer")
        elif kind == "sub":
            n = rng.randint(0, 9)
            steps.append({"kind": kind, "n": n})
            expected.append(n * n + 1)
        elif kind == "background":
            steps.append({"kind": kind, "fails": rng.randint(1, 3)})
            expected.append("started")
            finals.append("ok")
        else:
            n = rng.randint(1, 9)
            entity_total += n
            steps.append({"kind": kind, "n": n})
            expected.append(entity_total)
    return {"key": key, "steps": steps}, expected + finals


# A completion for a task id the SDK never gave out would surface as this warning.
@pytest.mark.filterwarnings("error:Potential duplicate Task completion")
@pytest.mark.parametrize("faults", [FaultOptions(),
                                    FaultOptions(duplicate_activities=True, crash_replay_rate=0.25,
                                                 seed=11)],
                         ids=["clean", "faults"])
def test_random_plans_complete_with_the_expected_outputs(tmp_path: Path,
                                                         faults: FaultOptions) -> None:
    rng = random.Random(20261123)
    plans = [make_plan(rng, f"{tmp_path.name}-{index}") for index in range(12)]

    async def body() -> list[dict[str, Any]]:
        options = EngineOptions(faults=faults)
        async with running_engine(tmp_path, registry_from_app(app), options) as engine:
            ids = [await engine.start_orchestration("plan_runner", json.dumps(plan))
                   for plan, _ in plans]
            return [await wait_for_status(engine, instance_id, timeout=30) for instance_id in ids]

    for status, (plan, expected) in zip(asyncio.run(body()), plans):
        assert status["runtimeStatus"] == "Completed", (plan, status)
        assert status["output"] == expected, plan
