"""The forwarding hot path side by side: straight to the lane, through nginx, through the router.

One lane (sample 1.0.0 on the local provisioner), the router in the dev host, nginx with a
generated config in front of the same lane. For each request (a start, a status read) and each
concurrency, every round sends the same requests to the three targets in turn, the order
rotating per round, so a slow moment of the shared machine does not always hit the same one.
Before each run the lane is let go idle (a start leaves work behind: the orchestration it
schedules). CPU per request of each process is read from /proc; wrk's own from its rusage.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.load import Load, wrk
from bench.nginx import running_nginx
from bench.proc import cpu_seconds, total_cpu_seconds
from bench.stack import Stack

TARGETS = ("direct", "nginx", "router")
WORKLOADS = ("start", "status")
# A start's orchestration reserves stock and then waits an hour: each start leaves one episode
# and one activity behind on the lane, not a whole order, so the lane settles between runs.
START_BODY = json.dumps({"order_id": "bench", "wait_seconds": 3600})
IDLE_CPU_SHARE = 0.05  # the lane counts as idle below 5% of a core
SETTLE_LIMIT_SECONDS = 60.0


@dataclass(frozen=True)
class Target:
    name: str
    start_url: str
    status_url: str
    headers: dict[str, str]
    pids: list[int]  # the processes between the load generator and the lane (none when direct)


@dataclass(frozen=True)
class Run:
    round: int
    workload: str
    concurrency: int
    target: str
    requests: int
    seconds: float
    requestsPerSecond: float
    p50Ms: float
    p99Ms: float
    non2xxAnswers: int
    socketErrors: int
    settleSeconds: float
    proxyCpuMsPerRequest: float  # the router or nginx process(es); 0 when direct
    laneCpuMsPerRequest: float
    loadGeneratorCpuMsPerRequest: float


def settle(lane_pid: int) -> float:
    """Wait until the lane is idle (its leftover orchestrations done); the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_LIMIT_SECONDS:
        before = cpu_seconds(lane_pid)
        time.sleep(0.5)
        if cpu_seconds(lane_pid) - before < IDLE_CPU_SHARE * 0.5:
            break
    return round(time.monotonic() - began, 2)


def one_run(stack: Stack, target: Target, workload: str, concurrency: int, seconds: float, round_: int) -> Run:
    waited = settle(stack.lane_pid)
    proxy_before, lane_before = total_cpu_seconds(target.pids), cpu_seconds(stack.lane_pid)
    if workload == "start":
        load = wrk(target.start_url, method="POST", body=START_BODY,
                   headers={**target.headers, "Content-Type": "application/json"}, concurrency=concurrency, seconds=seconds)
    else:
        load = wrk(target.status_url, method="GET", body=None, headers=target.headers,
                   concurrency=concurrency, seconds=seconds)
    proxy_cpu = total_cpu_seconds(target.pids) - proxy_before
    lane_cpu = cpu_seconds(stack.lane_pid) - lane_before
    return _run(round_, workload, concurrency, target.name, load, waited, proxy_cpu, lane_cpu)


def _run(round_: int, workload: str, concurrency: int, target: str, load: Load, waited: float,
         proxy_cpu: float, lane_cpu: float) -> Run:
    per = 1000 / max(load.requests, 1)
    return Run(
        round=round_, workload=workload, concurrency=concurrency, target=target, requests=load.requests,
        seconds=round(load.seconds, 3), requestsPerSecond=round(load.per_second, 1), p50Ms=round(load.p50_ms, 2),
        p99Ms=round(load.p99_ms, 2), non2xxAnswers=load.non_2xx, socketErrors=load.socket_errors,
        settleSeconds=waited, proxyCpuMsPerRequest=round(proxy_cpu * per, 3),
        laneCpuMsPerRequest=round(lane_cpu * per, 3),
        loadGeneratorCpuMsPerRequest=round(load.generator_cpu_seconds * per, 3),
    )


def _completed_instance(stack: Stack) -> str:
    """An instance on the lane for the status reads: started straight on the lane, run to its end."""
    instance_id = f"bench-status-{uuid.uuid4().hex[:12]}"
    body = json.dumps({"order_id": "bench-status", "wait_seconds": 0})
    with httpx.Client(base_url=stack.lane_url, headers=stack.lane_headers(), trust_env=False, timeout=30) as http:
        http.post(f"{stack.lane_start_path()}/{instance_id}", content=body,
                  headers={"Content-Type": "application/json"}).raise_for_status()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if http.get(stack.lane_status_path(instance_id)).json().get("runtimeStatus") == "Completed":
                return instance_id
            time.sleep(0.1)
    raise RuntimeError("the bench's status instance did not complete within 60 s")


def run(stack: Stack, work_dir: Path, *, rounds: int, seconds: float, concurrencies: tuple[int, ...],
        progress: Any = print) -> dict[str, Any]:
    """Every run and the summary: medians per (workload, concurrency, target) and the ratios."""
    instance_id = _completed_instance(stack)
    lane_hostport = stack.lane_url.split("://", 1)[1]
    with running_nginx(lane_hostport, work_dir / "nginx") as (nginx_url, nginx_pids):
        targets = {
            "direct": Target("direct", stack.lane_url + stack.lane_start_path(),
                             stack.lane_url + stack.lane_status_path(instance_id), stack.lane_headers(), []),
            "nginx": Target("nginx", nginx_url + stack.lane_start_path(),
                            nginx_url + stack.lane_status_path(instance_id), stack.lane_headers(), nginx_pids),
            "router": Target("router", stack.router_start_url, stack.router_status_url(instance_id),
                             stack.router_headers(), [stack.router_pid]),
        }
        for target in targets.values():  # warm-up: pools, caches, the router's map; not counted
            for workload in WORKLOADS:
                one_run(stack, target, workload, 16, 1, 0)
        runs: list[Run] = []
        for round_ in range(1, rounds + 1):
            order = TARGETS[round_ % 3:] + TARGETS[:round_ % 3]
            for concurrency in concurrencies:
                for workload in WORKLOADS:
                    for name in order:
                        run_ = one_run(stack, targets[name], workload, concurrency, seconds, round_)
                        runs.append(run_)
                        progress(f"  round {round_} {workload:<6} c={concurrency:<3} {name:<7}"
                                 f"{run_.requestsPerSecond:>9.1f}/s p50 {run_.p50Ms:>8.2f} ms p99 {run_.p99Ms:>8.2f} ms"
                                 f"  cpu/req proxy {run_.proxyCpuMsPerRequest:.3f} ms lane {run_.laneCpuMsPerRequest:.3f} ms"
                                 f" wrk {run_.loadGeneratorCpuMsPerRequest:.3f} ms")
    return {"runs": [asdict(r) for r in runs], "summary": summarize(runs, concurrencies)}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def summarize(runs: list[Run], concurrencies: tuple[int, ...]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for workload in WORKLOADS:
        by_concurrency: dict[str, Any] = {}
        for concurrency in concurrencies:
            figures: dict[str, Any] = {}
            for target in TARGETS:
                mine = [r for r in runs if (r.workload, r.concurrency, r.target) == (workload, concurrency, target)]
                figures[target] = {
                    "rounds": len(mine),
                    "requestsPerSecond": _median([r.requestsPerSecond for r in mine]),
                    "p50Ms": _median([r.p50Ms for r in mine]),
                    "p99Ms": _median([r.p99Ms for r in mine]),
                    "proxyCpuMsPerRequest": _median([r.proxyCpuMsPerRequest for r in mine]),
                    "laneCpuMsPerRequest": _median([r.laneCpuMsPerRequest for r in mine]),
                    "loadGeneratorCpuMsPerRequest": _median([r.loadGeneratorCpuMsPerRequest for r in mine]),
                    "failedRequests": sum(r.non2xxAnswers + r.socketErrors for r in mine),
                }
            direct, nginx, router = (figures[t] for t in TARGETS)
            figures["routerToDirectThroughput"] = _ratio(router["requestsPerSecond"], direct["requestsPerSecond"])
            figures["routerToNginxThroughput"] = _ratio(router["requestsPerSecond"], nginx["requestsPerSecond"])
            figures["nginxToDirectThroughput"] = _ratio(nginx["requestsPerSecond"], direct["requestsPerSecond"])
            figures["routerAddedP50Ms"] = round(router["p50Ms"] - direct["p50Ms"], 3)
            figures["nginxAddedP50Ms"] = round(nginx["p50Ms"] - direct["p50Ms"], 3)
            by_concurrency[f"concurrency{concurrency}"] = figures
        summary[workload] = by_concurrency
    return summary


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def table(summary: dict[str, Any]) -> str:
    lines = [f"{'request':<8}{'conc':>5}{'direct/s':>10}{'nginx/s':>10}{'router/s':>10}{'rtr/dir':>8}{'rtr/ngx':>8}"
             f"{'ngx/dir':>8}{'+p50 ms':>9}{'rtr cpu ms':>11}", "-" * 87]
    for workload, by_concurrency in summary.items():
        for key, f in by_concurrency.items():
            lines.append(
                f"{workload:<8}{key.removeprefix('concurrency'):>5}{f['direct']['requestsPerSecond']:>10.1f}"
                f"{f['nginx']['requestsPerSecond']:>10.1f}{f['router']['requestsPerSecond']:>10.1f}"
                f"{f['routerToDirectThroughput']:>8.2f}{f['routerToNginxThroughput']:>8.2f}"
                f"{f['nginxToDirectThroughput']:>8.2f}{f['routerAddedP50Ms']:>9.2f}"
                f"{f['router']['proxyCpuMsPerRequest']:>11.3f}"
            )
    return "\n".join(lines)
