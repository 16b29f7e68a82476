"""The runtime statuses of an orchestration instance, as the Durable HTTP API spells them.

The dev host's one copy: the engine's model, episodes, status objects and queries and the host's
Durable HTTP API all use it. The router has its own (`router/runtime_status.py`) on purpose: the
dev host plays the extension, and a fake that shares the client's constants cannot catch the
client's mistakes about them.
"""

from __future__ import annotations

from enum import StrEnum


class RuntimeStatus(StrEnum):
    RUNNING = "Running"
    PENDING = "Pending"
    SUSPENDED = "Suspended"
    # The extension shows it between two generations of an eternal orchestration; the engine
    # starts the next generation in the same commit, so only a query filter ever names it.
    CONTINUED_AS_NEW = "ContinuedAsNew"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CANCELED = "Canceled"


# Instances that may still change: the HTTP API answers 202 for them.
IN_FLIGHT: frozenset[RuntimeStatus] = frozenset({
    RuntimeStatus.RUNNING, RuntimeStatus.PENDING, RuntimeStatus.SUSPENDED,
    RuntimeStatus.CONTINUED_AS_NEW,
})
# Instances that will never run again: they take no events and may be started anew.
TERMINAL: frozenset[RuntimeStatus] = frozenset({
    RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED,
    RuntimeStatus.CANCELED,
})
