"""A plain Durable Functions app whose orchestrations pin the Durable HTTP API's answers
(tests/devhost/test_durable_api_parity.py): a chain with a step that fails until a marker file
exists (rewind), the same chain as a sub-orchestration, an event waiter and a notes entity.
Every run of an activity appends a line to RUNS_FILE, so tests can count executions."""

import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _scratch(marker: str) -> Path:
    return Path(os.environ["PARITY_SCRATCH_DIR"]) / marker


@app.orchestration_trigger(context_name="context")
def flaky_chain(context: df.DurableOrchestrationContext):
    marker = context.get_input()
    results = []
    for step in ("a", "b", "c"):
        results.append((yield context.call_activity("step", {"marker": marker, "step": step})))
    return results


@app.orchestration_trigger(context_name="context")
def flaky_parent(context: df.DurableOrchestrationContext):
    before = yield context.call_activity("step", {"marker": context.get_input(), "step": "p"})
    child = yield context.call_sub_orchestrator("flaky_chain", context.get_input())
    return [before, *child]


@app.orchestration_trigger(context_name="context")
def waits_for_go(context: df.DurableOrchestrationContext):
    return (yield context.wait_for_external_event("Go"))


@app.activity_trigger(input_name="work")
def step(work: dict) -> str:
    marker = _scratch(work["marker"])
    with open(f"{marker}.runs", "a", encoding="utf-8") as runs:
        runs.write(work["step"] + "\n")
    if work["step"] == "b" and not marker.exists():
        raise RuntimeError("step b is not ready")
    return work["step"].upper()


@app.entity_trigger(context_name="context")
def Notes(context: df.DurableEntityContext):
    notes = context.get_state(lambda: [])
    if context.operation_name == "delete":
        context.destruct_on_exit()
        return
    if context.operation_name == "add":
        notes.append(context.get_input())
    context.set_state(notes)
