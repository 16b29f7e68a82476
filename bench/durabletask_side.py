"""The workloads on durabletask's in-memory gRPC backend (worker and client in this process)."""

import asyncio
import json
import logging
import time
from collections.abc import Generator
from typing import Any

from durabletask import client, task, worker
from durabletask.testing.in_memory_backend import create_test_backend

from bench.workloads import (
    CHAIN_NAMES,
    BackendFigures,
    BenchConfig,
    Round,
    expected_chain_output,
    expected_fan_out_sum,
)
from devhost.ports import free_port


def say_hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def double(ctx: task.ActivityContext, value: int) -> int:
    return 2 * value


def hello_chain(ctx: task.OrchestrationContext, _: Any) -> Generator[task.Task[Any], Any, list[str]]:
    greetings = []
    for name in CHAIN_NAMES:
        greetings.append((yield ctx.call_activity(say_hello, input=name)))
    return greetings


def fan_out_fan_in(ctx: task.OrchestrationContext, width: int) -> Generator[task.Task[Any], Any, int]:
    results = yield task.when_all([ctx.call_activity(double, input=i) for i in range(width)])
    return sum(results)


def quiet_logger(name: str) -> logging.Logger:
    # durabletask logs every episode, and a warning when stop() cancels its stream;
    # the bench prints only its table.
    logger = logging.getLogger(f"bench.durabletask.{name}")
    logger.setLevel(logging.ERROR)
    return logger


async def _run_chains(hub: client.AsyncTaskHubGrpcClient, count: int, deadline: float) -> float:
    started = time.perf_counter()
    ids = await asyncio.gather(*(hub.schedule_new_orchestration(hello_chain) for _ in range(count)))
    # One waiter at a time: each wait holds one of the backend's 10 gRPC server threads, and
    # hundreds of them would starve the worker's own calls (a deadlock, not a slow backend).
    states = [await hub.wait_for_orchestration_completion(i, timeout=deadline) for i in ids]
    elapsed = time.perf_counter() - started
    for state in states:
        if state is None or state.runtime_status != client.OrchestrationStatus.COMPLETED:
            raise RuntimeError(f"durabletask chain did not complete: {state}")
        if state.serialized_output is None or json.loads(state.serialized_output) != expected_chain_output():
            raise RuntimeError(f"durabletask chain returned {state.serialized_output!r}")
    return elapsed


async def _run_fan_out(hub: client.AsyncTaskHubGrpcClient, width: int, deadline: float) -> float:
    started = time.perf_counter()
    instance_id = await hub.schedule_new_orchestration(fan_out_fan_in, input=width)
    state = await hub.wait_for_orchestration_completion(instance_id, timeout=deadline)
    elapsed = time.perf_counter() - started
    if state is None or state.runtime_status != client.OrchestrationStatus.COMPLETED:
        raise RuntimeError(f"durabletask fan-out did not complete: {state}")
    if state.serialized_output != str(expected_fan_out_sum(width)):
        raise RuntimeError(f"durabletask fan-out returned {state.serialized_output!r}")
    return elapsed


async def _drive(address: str, config: BenchConfig) -> list[Round]:
    hub = client.AsyncTaskHubGrpcClient(host_address=address, logger=quiet_logger("client"))
    try:
        rounds = [
            Round(
                await _run_chains(hub, config.chain_orchestrations, config.deadline_seconds),
                await _run_fan_out(hub, config.fan_out_width, config.deadline_seconds),
            )
            for _ in range(config.rounds)
        ]
    finally:
        await hub.close()
    return rounds


def run(config: BenchConfig) -> BackendFigures:
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"127.0.0.1:{port}"
    runner = worker.TaskHubGrpcWorker(host_address=address, logger=quiet_logger("worker"))
    try:
        for orchestrator in (hello_chain, fan_out_fan_in):
            runner.add_orchestrator(orchestrator)
        for activity in (say_hello, double):
            runner.add_activity(activity)
        runner.start()
        rounds = asyncio.run(_drive(address, config))
    finally:
        runner.stop()
        backend.stop()
    return BackendFigures(
        backend="durabletask in-memory",
        chain_orchestrations=config.chain_orchestrations,
        fan_out_width=config.fan_out_width,
        rounds=tuple(rounds),
    )
