"""Plain inputs of the engine: its options and an instance query."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Mapping

from devhost.engine.runtime_status import IN_FLIGHT, RuntimeStatus


class OverridableStates(StrEnum):
    """host.json `extensions.durableTask.overridableExistingInstanceStates`: which existing
    instances a start with the same id replaces (the extension's OverridableStates.cs)."""

    NON_RUNNING_STATES = "NonRunningStates"  # the default: only finished ones
    ANY_STATE = "AnyState"

    @classmethod
    def parse(cls, text: str) -> "OverridableStates | None":
        # .NET binds enum options case-insensitively.
        return next((value for value in cls if value.value.lower() == text.strip().lower()), None)

    def refuses(self, existing: RuntimeStatus) -> bool:
        """Whether a start over an instance in `existing` fails (ToDedupeStatuses: Running,
        ContinuedAsNew, Pending, Suspended for NonRunningStates; nothing for AnyState)."""
        return self is OverridableStates.NON_RUNNING_STATES and existing in IN_FLIGHT


@dataclass(frozen=True)
class FaultOptions:
    """Fault injection, to prove that user code and the engine survive at-least-once delivery."""

    duplicate_activities: bool = False  # deliver each activity twice
    crash_replay_rate: float = 0.0  # share of episodes aborted after the SDK ran, before commit
    seed: int | None = None  # makes the aborted episodes repeatable

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "FaultOptions":
        """Read DEVHOST_FAULT_* (architecture.md); a malformed value names its setting."""
        env = os.environ if env is None else env
        dup = env.get("DEVHOST_FAULT_DUPLICATE_ACTIVITIES", "false").strip().lower()
        if dup not in ("true", "false", "1", "0", ""):
            raise ValueError(f"DEVHOST_FAULT_DUPLICATE_ACTIVITIES must be true or false, not {dup!r}")
        raw_rate = env.get("DEVHOST_FAULT_CRASH_REPLAY_RATE", "0").strip() or "0"
        try:
            rate = float(raw_rate)
        except ValueError:
            raise ValueError(
                f"DEVHOST_FAULT_CRASH_REPLAY_RATE must be a number in [0, 1), not {raw_rate!r}"
            ) from None
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DEVHOST_FAULT_CRASH_REPLAY_RATE must be in [0, 1), not {raw_rate!r}")
        raw_seed = env.get("DEVHOST_FAULT_SEED", "").strip()
        try:
            seed = int(raw_seed) if raw_seed else None
        except ValueError:
            raise ValueError(f"DEVHOST_FAULT_SEED must be an integer, not {raw_seed!r}") from None
        return cls(duplicate_activities=dup in ("true", "1"), crash_replay_rate=rate, seed=seed)


@dataclass(frozen=True)
class EngineOptions:
    activity_workers: int = 8  # concurrent activity executions (sync ones run in threads)
    faults: FaultOptions = field(default_factory=FaultOptions)
    verbose: bool = False  # also log replays
    overridable_states: OverridableStates = OverridableStates.NON_RUNNING_STATES
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("devhost.engine"))


@dataclass(frozen=True)
class InstanceQuery:
    """Filters and paging of an instance query (Durable HTTP API `GET instances`)."""

    runtime_status: list[str] | None = None  # e.g. ["Running", "Pending"]; None = any
    created_from: datetime | None = None
    created_to: datetime | None = None
    instance_id_prefix: str | None = None
    top: int | None = None  # page size; None = everything
    continuation_token: str | None = None  # from the previous page
    show_input: bool = True
    updated_from: datetime | None = None  # lastUpdatedTime (an entity's lastOperationTime) bounds
    updated_to: datetime | None = None
