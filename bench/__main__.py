"""`make bench`: hello-chain throughput and a 1,000-activity fan-out, dev host vs durabletask;
then what the router adds to a start (through the router vs straight to the lane).

.venv/bin/python -m bench [--chains 300] [--fan-out 1000] [--rounds 3] [--only devhost|durabletask|router]
"""

import argparse

import json
from dataclasses import asdict

from bench import devhost_side, durabletask_side, router_side
from bench.report import json_line, table
from bench.workloads import BackendFigures, BenchConfig

BACKENDS = {"devhost": devhost_side.run, "durabletask": durabletask_side.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=300, help="hello-chain orchestrations started at once")
    parser.add_argument("--fan-out", type=int, default=1000, help="activities in the fan-out/fan-in")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; the table shows medians")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds before a workload is stuck")
    parser.add_argument("--only", choices=sorted([*BACKENDS, "router"]), help="run one part instead of all")
    parser.add_argument("--starts", type=int, default=300, help="starts per round in the router part")
    args = parser.parse_args()
    if min(args.chains, args.fan_out, args.rounds) < 1:
        parser.error("--chains, --fan-out and --rounds must be at least 1")
    config = BenchConfig(
        chain_orchestrations=args.chains,
        fan_out_width=args.fan_out,
        deadline_seconds=args.deadline,
        rounds=args.rounds,
    )

    rows: list[BackendFigures] = []
    for name, run in BACKENDS.items():
        if args.only in (None, name):
            print(f"running {name}: {config.rounds} x ({config.chain_orchestrations} chains, "
                  f"fan-out of {config.fan_out_width}) ...", flush=True)  # fmt: skip
            rows.append(run(config))
    if rows:
        print(table(rows))
        print(json_line(rows))
    if args.only in (None, "router"):
        print(f"running router: {config.rounds} x {args.starts} starts, through the router and straight to the lane ...",
              flush=True)
        starts = router_side.run(starts=args.starts, rounds=config.rounds)
        print(router_side.table(starts))
        print(json.dumps({"bench": "router-forwarding", "results": [asdict(row) for row in starts]}))


if __name__ == "__main__":
    main()
