"""The bench's output: a small side-by-side table and one JSON line with the same figures."""

import json
import platform

from bench.workloads import BackendFigures


def table(rows: list[BackendFigures]) -> str:
    """Medians over the rounds; the JSON line has every sample."""
    header = f"{'backend':<30} {'chains':>7} {'chain s':>9} {'chains/s':>9} {'fan-out':>8} {'fan-out s':>10}"
    rounds = max((len(row.rounds) for row in rows), default=0)
    lines = [f"medians of {rounds} round(s)", header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.backend:<30} {row.chain_orchestrations:>7} {row.chain_seconds:>9.2f} "
            f"{row.chains_per_second:>9.1f} {row.fan_out_width:>8} {row.fan_out_seconds:>10.2f}"
        )
    return "\n".join(lines)


def json_line(rows: list[BackendFigures]) -> str:
    return json.dumps(
        {
            "bench": "devhost-vs-durabletask",
            "python": platform.python_version(),
            "results": [
                {
                    "backend": row.backend,
                    "chainOrchestrations": row.chain_orchestrations,
                    "rounds": len(row.rounds),
                    "chainSeconds": round(row.chain_seconds, 3),
                    "chainsPerSecond": round(row.chains_per_second, 1),
                    "fanOutActivities": row.fan_out_width,
                    "fanOutSeconds": round(row.fan_out_seconds, 3),
                    "samples": [
                        {
                            "chainSeconds": round(r.chain_seconds, 3),
                            "fanOutSeconds": round(r.fan_out_seconds, 3),
                        }
                        for r in row.rounds
                    ],
                }
                for row in rows
            ],
        }
    )
