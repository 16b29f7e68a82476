"""The runtime statuses of a Durable Functions instance, and which are in flight or final.

The statuses themselves are the Durable Python SDK's (`OrchestrationRuntimeStatus`, what the
SDK's client hands the router); this module names them for the router as a `StrEnum`
(`RuntimeStatus.CONTINUED_AS_NEW == "ContinuedAsNew"`) and is the one place that says which are
still in flight and which are final. The dev host keeps its own list on purpose
(`devhost/engine/runtime_status.py`): it plays the extension, and a fake that shares the
client's constants cannot catch the client's mistakes about them.
"""

from __future__ import annotations

import re
from enum import StrEnum

from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus


class _Status(StrEnum):
    @classmethod
    def parse(cls, value: object) -> "RuntimeStatus | None":
        """The status named by `value` (a string or the SDK's enum), None when it names none."""
        text = getattr(value, "value", value)
        try:
            return cls(text)  # type: ignore[return-value]
        except ValueError:
            return None


RuntimeStatus = _Status(  # type: ignore[call-overload]
    "RuntimeStatus",
    [(re.sub(r"(?<!^)(?=[A-Z])", "_", status.name).upper(), status.value) for status in OrchestrationRuntimeStatus],
)

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
