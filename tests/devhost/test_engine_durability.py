"""Durability, determinism and fault injection of the durable engine."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost.engine import DurableEngine, EngineOptions, FaultOptions
from devhost.engine import history as h
from devhost.engine.episode import REPLAY_SCHEMA, flatten_actions
from devhost.engine.history import EventType
from devhost.engine.model import Message
from devhost.engine.registry import Registry
from devhost.engine.scheduler import Scheduler
from devhost.engine.store import Store
from devhost.engine.testing import (
    registry_from_app,
    running_engine,
    wait_for_status,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
app = df.DFApp()
runs: dict[str, int] = {}


@app.orchestration_trigger(context_name="context")
def mixed(context: df.DurableOrchestrationContext):
    """Waits on a timer, an event and a slow activity at once, then does more work."""
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    event = context.wait_for_external_event("go")
    slow = context.call_activity("slow", context.get_input())
    results = yield context.task_all([timer, event, slow])
    options = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=2)
    retried = yield context.call_activity_with_retry("once_flaky", options, context.instance_id)
    fanned = yield context.task_all([context.call_activity("slow", i) for i in range(5)])
    return [results[1], results[2], retried, fanned]


@app.activity_trigger(input_name="value")
async def slow(value: Any) -> Any:
    runs[str(value)] = runs.get(str(value), 0) + 1
    # The string input is the one still running when the engine stops or is killed.
    await asyncio.sleep(1.5 if isinstance(value, str) else 0.05)
    return value


@app.activity_trigger(input_name="key")
def once_flaky(key: str) -> str:
    runs[key] = runs.get(key, 0) + 1
    if runs[key] == 1:
        raise RuntimeError("first call fails")
    return "second call works"


@app.entity_trigger(context_name="context")
def tally(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0) + context.get_input()
    context.set_state(value)
    context.set_result(value)


@app.orchestration_trigger(context_name="context")
def faulty_workload(context: df.DurableOrchestrationContext):
    items = yield context.task_all([context.call_activity("square", i) for i in range(10)])
    options = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=3)
    retried = yield context.call_activity_with_retry("once_flaky", options, context.instance_id)
    total = yield context.call_entity(df.EntityId("tally", context.instance_id), "add",
                                      sum(items))
    child = yield context.call_sub_orchestrator("square_child", 3)
    return [sum(items), retried, total, child]


@app.orchestration_trigger(context_name="context")
def square_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("square", context.get_input()))


@app.activity_trigger(input_name="number")
def square(number: int) -> int:
    return number * number


def expected_mixed(payload: str) -> list[Any]:
    """The output of `mixed` run with `payload` and the event "went"."""
    return ["went", payload, "second call works", [0, 1, 2, 3, 4]]


def fresh_payload() -> str:
    # `runs` counts the slow activity's runs by input: a fresh one per test keeps tests apart.
    return f"payload-{uuid.uuid4().hex}"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_stop_mid_flight_then_a_new_engine_finishes_everything(tmp_path: Path) -> None:
    registry = registry_from_app(app)
    payload = fresh_payload()

    async def first_life() -> str:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("mixed", json.dumps(payload))
            # Stop while the slow activity runs (the timer is armed by then too).
            await wait_until(lambda: runs.get(payload) == 1, "the slow activity to start")
            return instance_id

    async def second_life(instance_id: str) -> dict[str, Any]:
        async with running_engine(tmp_path, registry) as engine:
            await engine.raise_event(instance_id, "go", json.dumps("went"))
            return await wait_for_status(engine, instance_id)

    instance_id = run(first_life())
    status = run(second_life(instance_id))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == expected_mixed(payload)
    assert runs[payload] == 2  # cut short by the stop, run again: at least once


def test_sigkill_loses_nothing_committed(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio, json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.devhost.test_engine_durability import app, runs
        from devhost.engine.testing import registry_from_app, running_engine, wait_until

        async def main():
            async with running_engine(Path({str(tmp_path)!r}), registry_from_app(app)) as e:
                for index in range(3):
                    await e.start_orchestration("mixed", json.dumps("payload"), f"k{{index}}")
                await e.raise_event("k0", "go", json.dumps("went"))
                # Killed while all three slow activities run, their results never committed.
                await wait_until(lambda: runs.get("payload") == 3, "the slow activities")
                print("started", flush=True)
                await asyncio.sleep(60)
        asyncio.run(main())
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True, cwd=tmp_path)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    async def after_kill() -> list[dict[str, Any]]:
        async with running_engine(tmp_path, registry_from_app(app)) as engine:
            for index in (1, 2):
                await engine.raise_event(f"k{index}", "go", json.dumps("went"))
            return [await wait_for_status(engine, f"k{index}") for index in range(3)]

    for status in run(after_kill()):
        assert (status["runtimeStatus"], status["output"]) == ("Completed", expected_mixed("payload"))


def test_replaying_a_recorded_history_twice_gives_the_same_actions(tmp_path: Path) -> None:
    registry = registry_from_app(app)

    async def record() -> str:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("faulty_workload", None)
            await wait_for_status(engine, instance_id)
            return instance_id

    instance_id = run(record())
    store = Store(tmp_path / "taskhub.sqlite3")
    try:
        texts = store.history_texts(instance_id)
    finally:
        store.close()
    events = [json.loads(text) for text in texts]
    scheduled_ids = sorted(e["EventId"] for e in events if e["EventType"] in (4, 7, 10, 14))
    handle = registry.orchestrators["faulty_workload"].handle
    # Cut the history at the start of each episode: the SDK sees what it saw then.
    cuts = [i for i, e in enumerate(events) if e["EventType"] == 13] + [len(events)]
    for cut in cuts:
        context = json.dumps({"history": events[:cut], "instanceId": instance_id,
                              "isReplaying": True, "parentInstanceId": None, "input": None,
                              "upperSchemaVersion": REPLAY_SCHEMA})
        first, second = handle(context), handle(context)
        assert first == second
    final = json.loads(first)
    assert final["isDone"] is True
    assert final["output"][0] == sum(i * i for i in range(10))
    # The engine numbered every task the SDK numbered: one id per action (events take none),
    # plus the retry's timer and its second attempt, with no gap and no duplicate.
    numbered = [a for a in flatten_actions(final["actions"]) if a["actionType"] != 6]
    assert scheduled_ids == list(range(len(numbered) + 2))


def test_fault_injection_duplicates_and_crashed_episodes_still_complete(tmp_path: Path) -> None:
    options = EngineOptions(faults=FaultOptions(duplicate_activities=True,
                                                crash_replay_rate=0.3, seed=7))

    async def body() -> list[dict[str, Any]]:
        async with running_engine(tmp_path, registry_from_app(app), options) as engine:
            ids = [await engine.start_orchestration("faulty_workload", None, f"f{index}")
                   for index in range(4)]
            return [await wait_for_status(engine, instance_id) for instance_id in ids]

    for status in run(body()):
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == [285, "second call works", 285, 9]


def test_fault_options_are_read_from_the_environment() -> None:
    options = FaultOptions.from_env({"DEVHOST_FAULT_DUPLICATE_ACTIVITIES": "true",
                                     "DEVHOST_FAULT_CRASH_REPLAY_RATE": "0.2",
                                     "DEVHOST_FAULT_SEED": "3"})
    assert options == FaultOptions(True, 0.2, 3)
    assert FaultOptions.from_env({}) == FaultOptions()
    for name, value in (("DEVHOST_FAULT_CRASH_REPLAY_RATE", "lots"),
                        ("DEVHOST_FAULT_DUPLICATE_ACTIVITIES", "maybe"),
                        ("DEVHOST_FAULT_SEED", "x")):
        try:
            FaultOptions.from_env({name: value})
        except ValueError as exc:
            assert name in str(exc)
        else:
            raise AssertionError(f"{name}={value} was accepted")


def test_the_same_engine_object_can_stop_and_start_again(tmp_path: Path) -> None:
    payload = fresh_payload()

    async def body() -> dict[str, Any]:
        engine = DurableEngine(tmp_path, "TestHubName", registry_from_app(app))
        await engine.start()
        instance_id = await engine.start_orchestration("mixed", json.dumps(payload))
        await wait_for_status(engine, instance_id, ("Running",))
        await engine.stop()
        await engine.start()
        try:
            await engine.raise_event(instance_id, "go", json.dumps("went"))
            return await wait_for_status(engine, instance_id)
        finally:
            await engine.stop()

    status = run(body())
    assert (status["runtimeStatus"], status["output"]) == ("Completed", expected_mixed(payload))


def test_stop_ends_when_a_timer_is_armed_in_the_same_loop_turn(tmp_path: Path) -> None:
    """The timer loop must end when stop() cancels it, even though its wake-up was set in the same
    turn. Python 3.11's asyncio.wait_for returns instead of raising when the cancel lands as the
    awaited future is already done (python/cpython#86296, fixed in 3.12 by #98518): a timer loop
    waiting through it went on waiting, and stop() waited for it forever (the router drain test's
    hang at its teardown, about 1 run in 5)."""

    async def body() -> bool:
        scheduler = Scheduler(Registry(), EngineOptions())
        scheduler.start(Store(tmp_path / "taskhub.sqlite3"))
        later = time.time() + 3600

        def arm_a_timer() -> None:
            fired = h.event(EventType.TIMER_FIRED, h.utc_now(), TimerId=1)
            scheduler.send(Message("some-instance", fired, visible_at=later))  # wakes the timer loop

        arm_a_timer()
        for _ in range(3):
            await asyncio.sleep(0)  # the timer loop now waits for its wake-up or its next timer
        arm_a_timer()
        stopping = asyncio.ensure_future(scheduler.stop())  # runs at once, in this same turn
        done, _ = await asyncio.wait({stopping}, timeout=10)  # a guard, not a measure: it ends in a few turns
        return stopping in done

    assert run(body()), "stop() still waits for its timer loop"
