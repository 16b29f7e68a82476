"""The durable engine drives real SDK-decorated functions through each Durable feature."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from aiohttp import web

from devhost.engine import (
    DurableEngine,
    EngineOptions,
    InstanceExists,
    InstanceNotRunning,
    InstanceQuery,
    UnknownFunction,
)
from devhost.engine.options import OverridableStates
from devhost.engine.testing import (
    registry_from_app,
    running_engine,
    wait_for_status,
    wait_until,
)

app = df.DFApp()
attempts: dict[str, int] = {}  # activity name + input -> calls so far (flaky activities)
attempts_lock = threading.Lock()


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("greet", "Tokyo")
    second = yield context.call_activity("greet", "Seattle")
    return [first, second, context.get_input()]


@app.activity_trigger(input_name="city")
def greet(city: str) -> str:
    return f"Hello {city}"


@app.activity_trigger(input_name="number")
async def double(number: int) -> int:
    await asyncio.sleep(0)
    return number * 2


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(results)


@app.activity_trigger(input_name="payload")
def flaky(payload: dict) -> str:
    key = payload["key"]
    with attempts_lock:
        attempts[key] = attempts.get(key, 0) + 1
        seen = attempts[key]
    if seen < payload["succeed_on"]:
        raise ValueError(f"attempt {seen} of {key} fails")
    return f"{key} ok after {seen}"


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    payloads = context.get_input()
    tasks = [context.call_activity_with_retry("flaky", options, p) for p in payloads]
    results = yield context.task_all(tasks)
    after = yield context.call_activity("greet", "after retries")
    return results + [after]


@app.orchestration_trigger(context_name="context")
def retries_while_yielding(context: df.DurableOrchestrationContext):
    """New tasks are yielded while retry timers and attempts of other tasks come and go."""
    options = df.RetryOptions(first_retry_interval_in_milliseconds=15, max_number_of_attempts=3)
    retries = [context.call_activity_with_retry(
        "flaky", options, {"key": f"{context.instance_id}-{i}", "succeed_on": i % 3 + 1})
        for i in range(4)]
    all_retries = context.task_all(retries)
    yield context.task_any([all_retries, context.call_activity("greet", "first")])
    extra = []
    for index in range(4):
        extra.append((yield context.call_activity("double", index)))
    results = yield all_retries
    return [results, extra]


@app.orchestration_trigger(context_name="context")
def retry_gives_up(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("flaky", options, context.get_input())
    except Exception as exc:  # noqa: BLE001 - the test reads the message
        return f"gave up: {exc}"
    return "unexpected success"


@app.orchestration_trigger(context_name="context")
def timer_then_greet(context: df.DurableOrchestrationContext):
    fire_at = context.current_utc_datetime + timedelta(seconds=context.get_input())
    yield context.create_timer(fire_at)
    return (yield context.call_activity("greet", "after timer"))


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    first = yield context.wait_for_external_event("Approve")
    second = yield context.wait_for_external_event("Second")
    context.set_custom_status("approved")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def event_or_timeout(context: df.DurableOrchestrationContext):
    timeout = timedelta(seconds=context.get_input())
    timer = context.create_timer(context.current_utc_datetime + timeout)
    event = context.wait_for_external_event("Go")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return f"event {event.result}"
    return "timeout"


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    auto = yield context.call_sub_orchestrator("chain", "auto")
    named = yield context.call_sub_orchestrator("chain", "named", context.instance_id + "-child")
    try:
        yield context.call_sub_orchestrator("fails", "boom")
    except Exception as exc:  # noqa: BLE001 - the test reads the message
        return [auto, named, str(exc)]
    return [auto, named, "no failure"]


@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("greet", "before failing")
    raise RuntimeError(f"orchestrator says {context.get_input()}")


@app.orchestration_trigger(context_name="context")
def sub_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=3)
    return (yield context.call_sub_orchestrator_with_retry("flaky_parent", options,
                                                           context.get_input()))


@app.orchestration_trigger(context_name="context")
def flaky_parent(context: df.DurableOrchestrationContext):
    # Fails as an orchestration until the activity behind it has been called enough times.
    payload = context.get_input()
    result = yield context.call_activity("flaky_no_raise", payload)
    if not result:
        raise RuntimeError("not yet")
    return "sub ok"


@app.activity_trigger(input_name="payload")
def flaky_no_raise(payload: dict) -> bool:
    key = payload["key"]
    with attempts_lock:
        attempts[key] = attempts.get(key, 0) + 1
        return attempts[key] >= payload["succeed_on"]


@app.orchestration_trigger(context_name="context")
def http_call(context: df.DurableOrchestrationContext):
    response = yield context.call_http("POST", context.get_input(), {"n": 1})
    return response


@app.orchestration_trigger(context_name="context")
def counter_loop(context: df.DurableOrchestrationContext):
    state = context.get_input() or {"round": 0, "events": []}
    if state["round"] < 3:
        value = yield context.wait_for_external_event("tick")
        state = {"round": state["round"] + 1, "events": state["events"] + [value]}
        context.continue_as_new(state)
        return None
    return state


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
        context.set_result(value)
    elif operation == "get":
        context.set_result(value)
    elif operation == "fail":
        raise ValueError("the counter refuses")
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def use_counter(context: df.DurableOrchestrationContext):
    entity = df.EntityId("counter", context.get_input())
    context.signal_entity(entity, "add", 10)
    after_add = yield context.call_entity(entity, "add", 5)
    try:
        yield context.call_entity(entity, "fail")
    except Exception as exc:  # noqa: BLE001 - the test reads the message
        error = str(exc)
    current = yield context.call_entity(entity, "get")
    return [after_add, error, current]


@app.orchestration_trigger(context_name="context")
def parent_of_waiter(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("wait_forever", None, context.get_input())
    except Exception as exc:  # noqa: BLE001 - the test reads the message
        return f"child failed: {exc}"
    return "child completed"


replay_flags: dict[str, list[bool]] = {}


@app.orchestration_trigger(context_name="context")
def records_replaying(context: df.DurableOrchestrationContext):
    yield context.call_activity("greet", "one")
    # Runs new in the second episode, replayed in the third.
    replay_flags.setdefault(context.instance_id, []).append(context.is_replaying)
    yield context.call_activity("greet", "two")
    return "done"


@app.orchestration_trigger(context_name="context")
def wait_forever(context: df.DurableOrchestrationContext):
    return (yield context.wait_for_external_event("never"))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(scope="module")
def registry():
    return registry_from_app(app)


async def start_and_wait(engine: DurableEngine, name: str, value: Any = None,
                         instance_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
    text = None if value is None else json.dumps(value)
    instance_id = await engine.start_orchestration(name, text, instance_id)
    return await wait_for_status(engine, instance_id, **kwargs)


def test_chain_returns_activity_results_and_input(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "chain", {"a": 1})
            assert status["runtimeStatus"] == "Completed"
            assert status["output"] == ["Hello Tokyo", "Hello Seattle", {"a": 1}]
            assert status["input"] == {"a": 1}
    run(body())


def test_is_replaying_is_true_only_for_earlier_episodes(tmp_path: Path, registry) -> None:
    async def body() -> str:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("records_replaying", None)
            assert (await wait_for_status(engine, instance_id))["output"] == "done"
            return instance_id

    assert replay_flags[run(body())] == [False, True]


def test_fan_out_fan_in_runs_async_activities(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "fan_out", 50)
            assert status["output"] == sum(i * 2 for i in range(50))
    run(body())


def test_activity_retries_until_success_with_parallel_retries(tmp_path: Path, registry) -> None:
    payloads = [{"key": f"{tmp_path}-a", "succeed_on": 2}, {"key": f"{tmp_path}-b",
                                                             "succeed_on": 3}]

    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "with_retry", payloads)
            assert status["runtimeStatus"] == "Completed", status
            assert status["output"] == [f"{tmp_path}-a ok after 2", f"{tmp_path}-b ok after 3",
                                        "Hello after retries"]
    run(body())


def test_retry_numbering_holds_while_other_tasks_are_yielded(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            ids = [await engine.start_orchestration("retries_while_yielding", None,
                                                    f"{tmp_path.name}-r{n}") for n in range(6)]
            for instance_id in ids:
                status = await wait_for_status(engine, instance_id)
                assert status["runtimeStatus"] == "Completed", status
                results, extra = status["output"]
                assert results == [f"{instance_id}-{i} ok after {i % 3 + 1}" for i in range(4)]
                assert extra == [0, 2, 4, 6]

    with warnings.catch_warnings():
        # A completion whose task id the SDK does not know shows up as this warning.
        warnings.filterwarnings("error", message="Potential duplicate Task completion")
        run(body())


def test_retry_surfaces_the_last_error_after_max_attempts(tmp_path: Path, registry) -> None:
    payload = {"key": f"{tmp_path}-never", "succeed_on": 99}

    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "retry_gives_up", payload)
            assert status["runtimeStatus"] == "Completed", status
            assert status["output"].startswith("gave up: Activity function 'flaky' failed")
            assert "attempt 2 of" in status["output"]
            assert attempts[payload["key"]] == 2
    run(body())


def test_timer_fires_then_orchestration_continues(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("timer_then_greet", "0.3")
            status = await wait_for_status(engine, instance_id, show_history=True)
            assert status["output"] == "Hello after timer"
            events = {e["EventType"]: e for e in status["historyEvents"]}
            fire_at = events["TimerCreated"]["FireAt"]
            assert events["TimerFired"]["FireAt"] == fire_at
            # The activity after the timer was scheduled no earlier than the timer's time.
            assert events["TaskCompleted"]["ScheduledTime"] >= fire_at
    run(body())


def test_external_events_raised_before_waiting_are_buffered(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("approval", None)
            await wait_for_status(engine, instance_id, ("Running",))
            # "Second" arrives before the orchestrator waits for it.
            await engine.raise_event(instance_id, "Second", json.dumps("two"))
            status = await engine.get_status(instance_id)
            assert status["runtimeStatus"] == "Running"
            assert status["customStatus"] == "waiting"
            await engine.raise_event(instance_id, "Approve", json.dumps({"by": "ana"}))
            status = await wait_for_status(engine, instance_id)
            assert status["output"] == [{"by": "ana"}, "two"]
            assert status["customStatus"] == "approved"
    run(body())


def test_task_any_between_event_and_timer(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            timed_out = await start_and_wait(engine, "event_or_timeout", 0.2)
            assert timed_out["output"] == "timeout"
            instance_id = await engine.start_orchestration("event_or_timeout", "30")
            await engine.raise_event(instance_id, "Go", json.dumps(7))
            status = await wait_for_status(engine, instance_id)
            assert status["output"] == "event 7"
    run(body())


def test_sub_orchestrations_and_failure_propagation(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "parent", instance_id="p1")
            assert status["runtimeStatus"] == "Completed", status
            auto, named, error = status["output"]
            assert auto == ["Hello Tokyo", "Hello Seattle", "auto"]
            assert named == ["Hello Tokyo", "Hello Seattle", "named"]
            assert "orchestrator says boom" in error
            child = await engine.get_status("p1-child")
            assert child["runtimeStatus"] == "Completed"
            page, _ = await engine.query_instances(InstanceQuery(runtime_status=["Failed"]))
            assert [s["name"] for s in page] == ["fails"]
    run(body())


def test_failed_orchestration_reports_the_error_as_output(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "fails", "oops")
            assert status["runtimeStatus"] == "Failed"
            assert "orchestrator says oops" in status["output"]
    run(body())


def test_sub_orchestration_retry(tmp_path: Path, registry) -> None:
    payload = {"key": f"{tmp_path}-sub", "succeed_on": 3}

    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "sub_retry", payload)
            assert status["runtimeStatus"] == "Completed", status
            assert status["output"] == "sub ok"
    run(body())


def test_call_http_polls_202_until_done(tmp_path: Path, registry) -> None:
    async def body() -> None:
        polls = []

        async def start(request: web.Request) -> web.Response:
            assert await request.json() == {"n": 1}
            return web.Response(status=202, headers={"Location": str(request.url.with_path(
                "/status")), "Retry-After": "0"})

        async def status_handler(request: web.Request) -> web.Response:
            polls.append(1)
            if len(polls) < 2:
                return web.Response(status=202, headers={"Location": str(request.url),
                                                         "Retry-After": "0"})
            return web.json_response({"done": True})

        web_app = web.Application()
        web_app.router.add_post("/start", start)
        web_app.router.add_get("/status", status_handler)
        runner = web.AppRunner(web_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with running_engine(tmp_path, registry) as engine:
                status = await start_and_wait(engine, "http_call",
                                              f"http://127.0.0.1:{port}/start")
                assert status["runtimeStatus"] == "Completed", status
                assert status["output"]["statusCode"] == 200
                assert json.loads(status["output"]["content"]) == {"done": True}
                assert len(polls) == 2
        finally:
            await runner.cleanup()
    run(body())


def test_continue_as_new_carries_input_and_unconsumed_events(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("counter_loop", None)
            for value in ("a", "b", "c"):
                await engine.raise_event(instance_id, "tick", json.dumps(value))
            status = await wait_for_status(engine, instance_id)
            assert status["output"] == {"round": 3, "events": ["a", "b", "c"]}
            with_history = await engine.get_status(instance_id, show_history=True)
            # Only the last generation's history is kept.
            kinds = [e["EventType"] for e in with_history["historyEvents"]]
            assert kinds.count("ExecutionStarted") == 1
    run(body())


def test_entities_calls_signals_errors_and_client_reads(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            status = await start_and_wait(engine, "use_counter", "k1")
            assert status["runtimeStatus"] == "Completed", status
            after_add, error, current = status["output"]
            assert after_add == 15  # the signal sent first is processed first
            assert "the counter refuses" in error
            assert current == 15

            async def counter_is(expected: tuple[bool, str | None]) -> bool:
                return await engine.read_entity("counter", "k1") == expected

            await engine.signal_entity("Counter", "k1", "add", "5")
            await wait_until(lambda: counter_is((True, "20")), "the signalled add")
            page, _ = await engine.query_instances(InstanceQuery(instance_id_prefix="@counter"))
            assert [(s["instanceId"], s["runtimeStatus"]) for s in page] == [("@counter@k1",
                                                                              "Running")]
            await engine.signal_entity("counter", "k1", "delete", None)
            await wait_until(lambda: counter_is((False, None)), "the entity's deletion")
            with pytest.raises(UnknownFunction):
                await engine.signal_entity("nope", "k", "add", None)
    run(body())


def test_suspend_holds_events_until_resume(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("approval", None)
            await wait_for_status(engine, instance_id, ("Running",))
            await engine.suspend(instance_id, "hold on")
            await wait_for_status(engine, instance_id, ("Suspended",))
            await engine.raise_event(instance_id, "Approve", json.dumps(1))
            await engine.raise_event(instance_id, "Second", json.dumps(2))
            # A second suspend queues behind the two events: once it is in the history, the
            # engine has handled them too, and they must have been held, not delivered.
            await engine.suspend(instance_id, "marker")

            async def handled() -> dict[str, Any] | None:
                status = await engine.get_status(instance_id, show_history=True)
                kinds = [event["EventType"] for event in status["historyEvents"]]
                return status if kinds.count("ExecutionSuspended") == 2 else None

            status = await wait_until(handled, "the second suspend in the history")
            assert status["runtimeStatus"] == "Suspended"
            assert "EventRaised" not in [event["EventType"] for event in status["historyEvents"]]
            await engine.resume(instance_id, "go")
            status = await wait_for_status(engine, instance_id)
            assert status["output"] == [1, 2]
    run(body())


def test_terminate_and_purge(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("wait_forever", None)
            await wait_for_status(engine, instance_id, ("Running",))
            await engine.terminate(instance_id, "enough")
            status = await wait_for_status(engine, instance_id)
            assert (status["runtimeStatus"], status["output"]) == ("Terminated", "enough")
            with pytest.raises(InstanceNotRunning):
                await engine.raise_event(instance_id, "never", None)
            assert await engine.purge(instance_id) == 1
            assert await engine.get_status(instance_id) is None
            assert await engine.purge(instance_id) == 0
            for _ in range(3):
                await start_and_wait(engine, "chain", None)
            assert await engine.purge_many(InstanceQuery(runtime_status=["Completed"])) == 3
            page, _ = await engine.query_instances(InstanceQuery())
            assert page == []
    run(body())


def test_query_filters_and_pages_with_a_continuation_token(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            for index in range(5):
                await start_and_wait(engine, "chain", index, instance_id=f"job-{index}")
            waiting = await engine.start_orchestration("wait_forever", None, "other-1")
            await wait_for_status(engine, waiting, ("Running",))
            seen, token = [], None
            while True:
                page, token = await engine.query_instances(InstanceQuery(
                    instance_id_prefix="job-", top=2, continuation_token=token,
                    show_input=False))
                seen.extend(page)
                if token is None:
                    break
            assert sorted(s["instanceId"] for s in seen) == [f"job-{i}" for i in range(5)]
            assert all(s["input"] is None for s in seen)
            running, _ = await engine.query_instances(InstanceQuery(runtime_status=["Running"]))
            assert [s["instanceId"] for s in running] == ["other-1"]
            hour = timedelta(hours=1)
            now = datetime.now(timezone.utc)
            recent, _ = await engine.query_instances(InstanceQuery(created_from=now - hour,
                                                                   created_to=now + hour))
            assert len(recent) == 6
            future, _ = await engine.query_instances(InstanceQuery(created_from=now + hour))
            assert future == []
    run(body())


def test_history_output_is_shown_only_when_asked(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            instance_id = await engine.start_orchestration("chain", None)
            await wait_for_status(engine, instance_id)
            plain = await engine.get_status(instance_id, show_history=True)
            full = await engine.get_status(instance_id, show_history=True,
                                           show_history_output=True)
            kinds = [e["EventType"] for e in full["historyEvents"]]
            assert kinds == ["ExecutionStarted", "TaskCompleted", "TaskCompleted",
                             "ExecutionCompleted"]
            assert full["historyEvents"][1]["Result"] == "Hello Tokyo"
            assert full["historyEvents"][1]["FunctionName"] == "greet"
            assert "Result" not in plain["historyEvents"][1]
            assert "historyEvents" not in await engine.get_status(instance_id)
    run(body())


def test_unknown_orchestrator_and_duplicate_running_instance(tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            with pytest.raises(UnknownFunction):
                await engine.start_orchestration("missing", None)
            await engine.start_orchestration("wait_forever", None, "only-one")
            with pytest.raises(InstanceExists):
                await engine.start_orchestration("wait_forever", None, "only-one")
            await engine.terminate("only-one", None)
            await wait_for_status(engine, "only-one")
            # A finished instance id can be started again.
            await engine.start_orchestration("chain", None, "only-one")
            status = await wait_for_status(engine, "only-one")
            assert status["name"] == "chain"
    run(body())


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("verbose, orchestrator_lines", [(False, 2), (True, 3)])
def test_one_log_line_per_execution_and_replays_only_when_verbose(
        tmp_path: Path, registry, verbose: bool, orchestrator_lines: int) -> None:
    logger = logging.getLogger(f"test-engine-{uuid.uuid4()}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = ListHandler()
    logger.addHandler(handler)
    options = EngineOptions(verbose=verbose, logger=logger)

    async def body() -> str:
        async with running_engine(tmp_path, registry, options) as engine:
            instance_id = await engine.start_orchestration("chain", None)
            await wait_for_status(engine, instance_id)
            return instance_id

    instance_id = run(body())
    mine = [line for line in handler.lines if instance_id in line]
    assert len([line for line in mine if "'Functions.greet'" in line]) == 2
    chain_lines = [line for line in mine if "'Functions.chain'" in line]
    assert len(chain_lines) == orchestrator_lines
    assert "Succeeded" in chain_lines[-1] and "Completed" in chain_lines[-1]
    assert all("Duration=" in line for line in mine)


def test_sub_orchestration_id_taken_or_child_terminated_fails_the_parent_task(
        tmp_path: Path, registry) -> None:
    async def body() -> None:
        async with running_engine(tmp_path, registry) as engine:
            await engine.start_orchestration("wait_forever", None, "busy-child")
            await wait_for_status(engine, "busy-child", ("Running",))
            taken = await start_and_wait(engine, "parent_of_waiter", "busy-child")
            assert "already exists" in taken["output"]

            parent_id = await engine.start_orchestration("parent_of_waiter", '"doomed-child"')
            await wait_for_status(engine, "doomed-child", ("Running",))
            await engine.terminate("doomed-child", "stop it")
            status = await wait_for_status(engine, parent_id)
            assert status["output"].startswith("child failed:")
            assert "stop it" in status["output"]
    run(body())


def test_any_state_lets_a_sub_orchestration_replace_a_running_child(tmp_path: Path, registry) -> None:
    """A sub-orchestration start follows overridableExistingInstanceStates as a top-level one."""
    options = EngineOptions(overridable_states=OverridableStates.ANY_STATE)

    async def body() -> None:
        async with running_engine(tmp_path, registry, options) as engine:
            async def child_started_at() -> str | None:
                # The child's ExecutionStarted time (microseconds): a replacement gets a new one.
                status = await engine.get_status("busy-child", show_history=True)
                if status is None or status["runtimeStatus"] != "Running" or not status["historyEvents"]:
                    return None
                return next((e["Timestamp"] for e in status["historyEvents"]
                             if e["EventType"] == "ExecutionStarted"), None)

            await engine.start_orchestration("wait_forever", None, "busy-child")
            first = await wait_until(child_started_at, "the child running")
            parent_id = await engine.start_orchestration("parent_of_waiter", '"busy-child"')

            async def replaced() -> bool:
                return (await child_started_at()) not in (None, first)

            await wait_until(replaced, "the running child replaced by the parent's start")
            assert (await engine.get_status(parent_id))["runtimeStatus"] == "Running"
            await engine.terminate("busy-child", "stop it")
            status = await wait_for_status(engine, parent_id)
            assert status["output"].startswith("child failed:") and "stop it" in status["output"]
    run(body())
