"""The runtime statuses of a Durable Functions instance, as the Durable HTTP API spells them (pure).

The router reads them from lanes and from its own task hub; this is the one place that says which
statuses are still in flight and which are final. The dev host keeps its own copy on purpose: it
plays the extension, and a fake that shares the client's constants cannot catch the client's
mistakes about them.
"""

from __future__ import annotations

from enum import StrEnum


class RuntimeStatus(StrEnum):
    RUNNING = "Running"
    PENDING = "Pending"
    SUSPENDED = "Suspended"
    # Between two generations of an eternal orchestration; the extension may show it briefly.
    CONTINUED_AS_NEW = "ContinuedAsNew"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CANCELED = "Canceled"

    @classmethod
    def parse(cls, value: object) -> "RuntimeStatus | None":
        """The status named by `value` (a string or the SDK's enum), None when it names none."""
        text = getattr(value, "value", value)
        try:
            return cls(text)
        except ValueError:
            return None


# Instances that keep a lane's app alive (and a lifecycle singleton that is still there).
IN_FLIGHT: frozenset[RuntimeStatus] = frozenset(
    {RuntimeStatus.RUNNING, RuntimeStatus.PENDING, RuntimeStatus.SUSPENDED, RuntimeStatus.CONTINUED_AS_NEW}
)
# Instances that will never run again: their output (or failure) is final.
TERMINAL: frozenset[RuntimeStatus] = frozenset(
    {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED}
)
# Ended without an output the caller asked for.
UNSUCCESSFUL: frozenset[RuntimeStatus] = frozenset(
    {RuntimeStatus.FAILED, RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED}
)


def is_in_flight(value: object) -> bool:
    return RuntimeStatus.parse(value) in IN_FLIGHT
