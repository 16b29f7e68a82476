"""Inputs of the router's orchestrations and activities, one dataclass each (pure).

Serialized explicitly with `to_dict` / `from_dict`; `from_dict` ignores unknown keys and fills
missing ones with defaults, so a field can be added without breaking histories in flight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T", bound="DurableInput")

MAX_STEPS = 30  # progress kept in custom status; bounded like the history itself


class DurableInput:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass
class Timing(DurableInput):
    """The settings an orchestration needs, fixed when it starts so replays see the same values."""

    drain_poll_seconds: float = 60
    drain_grace_seconds: float = 300
    map_cache_seconds: float = 5
    health_attempts: int = 30
    health_interval_seconds: float = 2
    activity_attempts: int = 3
    activity_retry_ms: int = 2000
    held_timeout_seconds: float = 3600
    release_timeout_seconds: float = 3600


@dataclass
class LifecycleInput(DurableInput):
    lane: str = ""
    phase: str = "provision"  # provision | watch | retire | failed
    release: dict[str, Any] | None = None  # Release being provisioned (version, package_url, ...)
    release_id: str | None = None  # the release orchestration to notify when done
    app: dict[str, Any] | None = None  # AppRef (name, base_url, resource_id): no secret
    forced: bool = False
    timing: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def times(self) -> Timing:
        return Timing.from_dict(self.timing)


@dataclass
class ReleaseInput(DurableInput):
    release_id: str = ""
    version: str = ""
    package_url: str = ""
    sha256: str = ""
    provision: str = "eager"
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass
class HeldRequestInput(DurableInput):
    lane: str = ""
    version: str = ""
    orchestrator: str = ""
    instance_id: str | None = None
    body: str = ""  # the start's JSON input, as text
    content_type: str | None = "application/json"
    start_lazy_lane: bool = False
    waited_polls: int = 0
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass
class LaneCommand(DurableInput):
    """What the start_lifecycle activity is asked to do for a lane."""

    lane: str = ""
    release: dict[str, Any] | None = None
    release_id: str | None = None
    timing: dict[str, Any] = field(default_factory=dict)


def add_step(steps: list[dict[str, Any]], step: str, at: str, detail: str = "") -> list[dict[str, Any]]:
    """Append a progress step, keeping the most recent MAX_STEPS."""
    entry = {"step": step, "at": at}
    if detail:
        entry["detail"] = detail
    return (steps + [entry])[-MAX_STEPS:]


def lifecycle_instance_id(lane: str) -> str:
    """The lane lifecycle is a singleton per lane: its id derives from the lane key."""
    return f"lane-lifecycle-{lane}"
