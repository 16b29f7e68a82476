"""The workloads on the local dev host: a real host process, driven only through its HTTP API."""

import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.workloads import BackendFigures, BenchConfig, Round, expected_chain_output, expected_fan_out_sum
from devhost import launcher
from devhost.durable_urls import WEBHOOK_PATH
from devhost.engine import TERMINAL, RuntimeStatus
from devhost.ports import free_port

BENCH_APP = Path(__file__).resolve().parent / "app"
POLL_INTERVAL_SECONDS = 0.05
# Starts in flight at once: enough to keep the host busy without a socket per orchestration.
START_CONCURRENCY = 32


@dataclass(frozen=True)
class BenchHost:
    base_url: str
    system_key: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def bench_host() -> Iterator[BenchHost]:
    """A dev host process serving bench/app on a free loopback port, on a fresh data dir."""
    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as workdir:
        # A key of our own choosing (the DEVHOST_DURABLETASK_KEY setting): no keys.json to read.
        system_key = secrets.token_urlsafe(24)
        command = launcher.HostCommand(
            app_dir=BENCH_APP,
            port=free_port(),
            data_dir=Path(workdir) / "data",
            log_path=Path(workdir) / "host-output.log",
            env=launcher.host_env({"DEVHOST_DURABLETASK_KEY": system_key}),
        )
        process = launcher.start(command)  # HostStartError carries the host's last output
        try:
            yield BenchHost(command.base_url, system_key, process, command.log_path)
        except BaseException:
            # The work dir goes away with the host: show why it failed before it does.
            print(f"--- dev host output (last lines) ---\n{launcher.log_tail(command.log_path, 3000)}",
                  file=sys.stderr)
            raise
        finally:
            launcher.stop(process)


async def _start(client: httpx.AsyncClient, host: BenchHost, name: str, instance_id: str, body: Any) -> None:
    response = await client.post(
        f"{WEBHOOK_PATH}/orchestrators/{name}/{instance_id}", params={"code": host.system_key}, json=body
    )
    if response.status_code != 202:
        raise RuntimeError(f"start {name} answered {response.status_code}: {response.text[:200]}")


async def _query(client: httpx.AsyncClient, host: BenchHost, **params: str) -> list[dict[str, Any]]:
    """Every page of an instance query, following x-ms-continuation-token."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(10_000):  # bounded: a page always makes progress
        headers = {"x-ms-continuation-token": token} if token else {}
        response = await client.get(
            f"{WEBHOOK_PATH}/instances", params={**params, "code": host.system_key}, headers=headers
        )
        response.raise_for_status()
        found.extend(response.json())
        token = response.headers.get("x-ms-continuation-token")
        if not token:
            return found
    raise RuntimeError("instance query did not end")


async def _until(deadline: float, done: Any) -> None:
    while not await done():
        if time.monotonic() > deadline:
            raise RuntimeError("the dev host did not finish the workload before the deadline")
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


async def _run_chains(client: httpx.AsyncClient, host: BenchHost, config: BenchConfig) -> float:
    prefix = f"chain-{secrets.token_hex(4)}-"
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def start_one(n: int) -> None:
        async with gate:
            await _start(client, host, "hello_chain", f"{prefix}{n:05d}", None)

    async def none_left() -> bool:
        # One small query per poll (top=1) so polling does not steal the host's time.
        left = await client.get(
            f"{WEBHOOK_PATH}/instances",
            params={
                "instanceIdPrefix": prefix,
                "runtimeStatus": f"{RuntimeStatus.PENDING},{RuntimeStatus.RUNNING}",
                "top": "1",
                "code": host.system_key,
            },
        )
        left.raise_for_status()
        return not left.json()

    started = time.perf_counter()
    await asyncio.gather(*(start_one(n) for n in range(config.chain_orchestrations)))
    await _until(time.monotonic() + config.deadline_seconds, none_left)
    elapsed = time.perf_counter() - started

    finished = await _query(client, host, instanceIdPrefix=prefix)
    wrong = [
        i for i in finished if i["runtimeStatus"] != RuntimeStatus.COMPLETED or i["output"] != expected_chain_output()
    ]
    if len(finished) != config.chain_orchestrations or wrong:
        raise RuntimeError(f"dev host chains: {len(finished)} found, wrong: {wrong[:3]}")
    return elapsed


async def _run_fan_out(client: httpx.AsyncClient, host: BenchHost, config: BenchConfig) -> float:
    instance_id = f"fan-{secrets.token_hex(4)}"
    status: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal status
        response = await client.get(
            f"{WEBHOOK_PATH}/instances/{instance_id}", params={"code": host.system_key}
        )
        status = response.json()
        return status.get("runtimeStatus") in TERMINAL

    started = time.perf_counter()
    await _start(client, host, "fan_out_fan_in", instance_id, config.fan_out_width)
    await _until(time.monotonic() + config.deadline_seconds, finished)
    elapsed = time.perf_counter() - started
    if status["runtimeStatus"] != RuntimeStatus.COMPLETED or status["output"] != expected_fan_out_sum(
        config.fan_out_width
    ):
        raise RuntimeError(
            f"dev host fan-out ended {status.get('runtimeStatus')}: {str(status.get('output'))[:200]}"
        )
    return elapsed


async def _drive(host: BenchHost, config: BenchConfig) -> list[Round]:
    limits = httpx.Limits(max_connections=START_CONCURRENCY + 4)
    async with httpx.AsyncClient(base_url=host.base_url, timeout=120, limits=limits) as client:
        # Every round on the same host process, with fresh instance ids.
        return [
            Round(await _run_chains(client, host, config), await _run_fan_out(client, host, config))
            for _ in range(config.rounds)
        ]


def run(config: BenchConfig) -> BackendFigures:
    with bench_host() as host:
        rounds = asyncio.run(_drive(host, config))
    return BackendFigures(
        backend="dev host (SQLite, HTTP API)",
        chain_orchestrations=config.chain_orchestrations,
        fan_out_width=config.fan_out_width,
        rounds=tuple(rounds),
    )
