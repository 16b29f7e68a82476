"""The two workloads every backend runs, and the figures they produce."""

import statistics
from dataclasses import dataclass

# Both backends run these exact shapes so the figures compare like with like.
CHAIN_NAMES = ("Tokyo", "Seattle", "London")


@dataclass(frozen=True)
class BenchConfig:
    chain_orchestrations: int = 300
    fan_out_width: int = 1000
    deadline_seconds: float = 600.0
    # The machine is shared: repeat each workload and report the median, with every sample.
    rounds: int = 3


@dataclass(frozen=True)
class Round:
    chain_seconds: float
    fan_out_seconds: float


@dataclass(frozen=True)
class BackendFigures:
    backend: str
    chain_orchestrations: int
    fan_out_width: int
    rounds: tuple[Round, ...]

    @property
    def chain_seconds(self) -> float:
        return statistics.median(r.chain_seconds for r in self.rounds)

    @property
    def fan_out_seconds(self) -> float:
        return statistics.median(r.fan_out_seconds for r in self.rounds)

    @property
    def chains_per_second(self) -> float:
        return self.chain_orchestrations / self.chain_seconds if self.chain_seconds else 0.0


def expected_chain_output() -> list[str]:
    return [f"Hello {name}!" for name in CHAIN_NAMES]


def expected_fan_out_sum(width: int) -> int:
    # Each activity doubles its index; the orchestrator sums the results.
    return sum(2 * i for i in range(width))
