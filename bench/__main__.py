"""`make bench`: the forwarding hot path side by side with nginx, the routing path's other
figures, what a lane call costs per HTTP client, and hello-chain throughput and a 1,000-activity
fan-out on the dev host vs durabletask.

.venv/bin/python -m bench [--rounds 5] [--seconds 3] [--only forwarding|routing|clients|devhost|durabletask]
                          [--no-engines]

Every figure goes to bench/results/<UTC timestamp>.json and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import client_cost, devhost_side, durabletask_side, forwarding, routing_path
from bench.report import json_line, table
from bench.stack import running_stack
from bench.workloads import BenchConfig

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = {"devhost": devhost_side.run, "durabletask": durabletask_side.run}
PARTS = ("forwarding", "routing", "clients", *ENGINES)


def acceptance(summary: dict[str, Any], routing: dict[str, Any]) -> dict[str, Any]:
    """Issue 13's acceptance figures, each with its target and whether it is met."""
    start, status = summary["start"], summary["status"]
    figures: dict[str, Any] = {}

    def check(name: str, value: float, target: float, at_least: bool) -> None:
        figures[name] = {"value": value, "target": target, "met": value >= target if at_least else value <= target}

    for concurrency in (16, 64):
        key = f"concurrency{concurrency}"
        if key in start:
            check(f"startRouterToDirectThroughputAt{concurrency}", start[key]["routerToDirectThroughput"], 0.85, True)
    if "concurrency16" in status:
        check("statusRouterAddedP50MsAt16", status["concurrency16"]["routerAddedP50Ms"], 3.0, False)
    if "concurrency16" in start and "concurrency64" in start:
        at16 = start["concurrency16"]["router"]["proxyCpuMsPerRequest"]
        at64 = start["concurrency64"]["router"]["proxyCpuMsPerRequest"]
        check("routerCpuPerStartAt64OverAt16", round(at64 / at16, 3) if at16 else 0.0, 1.2, False)
    reads = routing.get("entityReads", {}).get("entityReadsPer1000Starts")
    if reads is not None:
        check("entityReadsPer1000Starts", reads, 0.0, False)
    calls = routing.get("drainingLaneCalls", {}).get("laneApiCallsPerPollInterval")
    if calls is not None:
        check("laneApiCallsPerPollIntervalPerDrainingLane", calls, 1.0, False)
    wake = routing.get("heldRequestWake", {}).get("lastHeldForwardedSecondsAfterLaneActive")
    if wake is not None:
        check("heldRequestsForwardedSecondsAfterLaneActive", wake, 1.0, False)
    return figures


def write_results(document: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(document, indent=2) + "\n"
    path = RESULTS / f"{stamp}.json"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    # 5, not 3: on a shared 2-core machine a single run moves by about ±20%; a median of 5 less so.
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each comparison; tables show medians")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of load per forwarding run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--only", choices=PARTS, help="run one part instead of the default ones")
    parser.add_argument("--no-engines", dest="engines", action="store_false",
                        help="skip the dev host vs durabletask workloads (about 30 s)")
    parser.add_argument("--chains", type=int, default=300, help="hello-chain orchestrations (engines part)")
    parser.add_argument("--fan-out", type=int, default=1000, help="activities in the fan-out (engines part)")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds before an engines workload is stuck")
    args = parser.parse_args()
    if min(args.rounds, args.chains, args.fan_out) < 1 or args.seconds <= 0:
        parser.error("--rounds, --chains and --fan-out must be at least 1, --seconds above 0")
    wanted = {args.only} if args.only else {"forwarding", "routing", "clients", *(ENGINES if args.engines else ())}

    began = time.monotonic()
    document: dict[str, Any] = {
        "bench": "make bench",
        "startedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count() or 0, "python": platform.python_version(), "kernel": platform.release()},
        "settings": {"rounds": args.rounds, "secondsPerRun": args.seconds, "concurrencies": args.concurrency},
    }
    if "forwarding" in wanted:
        print(f"forwarding: direct, nginx and router; {args.rounds} round(s) x {len(args.concurrency)} "
              f"concurrencies x start/status, {args.seconds:g} s each ...", flush=True)
        with running_stack() as stack:
            part = forwarding.run(stack, stack.work_dir, rounds=args.rounds, seconds=args.seconds,
                                  concurrencies=tuple(args.concurrency), progress=lambda line: print(line, flush=True))
        document["forwarding"] = part
        print(forwarding.table(part["summary"]), flush=True)
    if "routing" in wanted:
        print("routing path: entity reads, drain calls, held-request wake, router memory ...", flush=True)
        document["routingPath"] = routing_path.run(progress=lambda line: print(line, flush=True))
    if "clients" in wanted:
        print("clients: CPU per lane call, httpx default vs aiohttp transport vs plain aiohttp ...", flush=True)
        document["laneClientCpuMicrosecondsPerCall"] = client_cost.run()
        print(json.dumps(document["laneClientCpuMicrosecondsPerCall"]), flush=True)
    engine_rows = []
    config = BenchConfig(chain_orchestrations=args.chains, fan_out_width=args.fan_out,
                         deadline_seconds=args.deadline, rounds=args.rounds)
    for name, run in ENGINES.items():
        if name in wanted:
            print(f"engines: {name}, {config.rounds} x ({config.chain_orchestrations} chains, "
                  f"fan-out of {config.fan_out_width}) ...", flush=True)
            engine_rows.append(run(config))
    if engine_rows:
        print(table(engine_rows))
        document["engines"] = json.loads(json_line(engine_rows))
    if "forwarding" in document:
        document["acceptance"] = acceptance(document["forwarding"]["summary"], document.get("routingPath", {}))
        print(json.dumps(document["acceptance"], indent=1))
    document["benchSeconds"] = round(time.monotonic() - began, 1)
    path = write_results(document)
    print(f"results: {path} (and {RESULTS / 'latest.json'}); {document['benchSeconds']} s", flush=True)


if __name__ == "__main__":
    main()
