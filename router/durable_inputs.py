"""What crosses the durable boundary: one dataclass per orchestration and activity input (pure).

Serialized explicitly with `to_dict` / `from_dict`. `from_dict` ignores unknown keys, fills
missing ones with defaults and rebuilds nested dataclasses and enums from their type hints, so a
field can be added without breaking histories in flight.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeVar

from provisioning.base import AppRef, LaneSpec, Package
from router.lanes import RampPlan, Release
from router.settings import Settings

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A dataclass (or list/dict of them) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(kind: Any, data: Any) -> Any:
    """Rebuild a value of type `kind` (a dataclass, enum, list, optional...) from JSON data."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if data is None else from_json(options[0], data)
    if origin in (list, tuple):
        (item,) = typing.get_args(kind)[:1]
        values = [from_json(item, v) for v in (data or [])]
        return values if origin is list else tuple(values)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: from_json(hints[k], v) for k, v in (data or {}).items() if k in known})
    return data


class DurableInput:
    def to_dict(self) -> dict[str, Any]:
        return to_json(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
        return from_json(cls, data)  # type: ignore[no-any-return]


MAX_STEPS = 30  # progress kept in custom status; bounded like the history itself


@dataclass
class Timing(DurableInput):
    """The settings an orchestration needs, fixed when it starts so replays see the same values.

    Built from the router's Settings (`RouterRuntime.timing`); the defaults only fill fields
    that an older input did not carry.
    """

    drain_poll_seconds: float = Settings.drain_poll_seconds
    drain_grace_seconds: float = Settings.drain_grace_seconds
    map_cache_seconds: float = Settings.map_cache_seconds
    ready_timeout_seconds: float = Settings.lane_ready_timeout_seconds  # from deploy to a healthy lane
    held_timeout_seconds: float = Settings.held_request_timeout_seconds
    release_timeout_seconds: float = Settings.release_timeout_seconds
    probe_seconds: float = Settings.lane_probe_seconds
    health_interval_seconds: float = 2
    # Starts the task hub name of every lane this router provisions (ROUTER_ID); "" in inputs
    # recorded before router ids, which keep the hub names they were given.
    router_id: str = ""
    activity_attempts: int = 4  # tries per activity, the first included
    activity_retry_seconds: float = 2  # doubled per retry
    activity_retry_max_seconds: float = 60


@dataclass
class Step(DurableInput):
    step: str
    at: str
    detail: str = ""


class Phase(StrEnum):
    PROVISION = "provision"
    FAILED = "failed"  # waits for a new (or the same) release of the lane
    WATCH = "watch"  # serves: patches, then the drain monitor once superseded
    RETIRE = "retire"
    DONE = "done"


@dataclass
class LifecycleInput(DurableInput):
    lane: str = ""
    phase: Phase = Phase.PROVISION
    release: Release | None = None  # being provisioned or deployed
    app: AppRef | None = None  # no secret
    timing: Timing = field(default_factory=Timing)
    provision_deadline: str | None = None  # set when provisioning starts (the release timeout)
    next_drain_check: str | None = None  # a draining lane is counted every drain_poll_seconds
    handovers: list[str] = field(default_factory=list)  # the latest hand-overs acted on
    failed_probes: int = 0  # in a row: how long to wait before probing again
    steps: list[Step] = field(default_factory=list)
    # Deploys wait in one readiness loop (set_package, then check_lane_ready until the deadline).
    # A generation written by an earlier router lacks the field and replays its old steps
    # (deploy_package, verify_system_key, check_health); its next generation takes the loop.
    readiness_loop: bool = False
    # A release posted with a ramp: on activation the lane takes version-less starts step by step
    # instead of becoming current at once. Absent from inputs written before ramps (no new step).
    ramp: RampPlan | None = None


@dataclass
class ReleaseInput(DurableInput):
    release: Release = field(default_factory=lambda: Release("", ""))
    timing: Timing = field(default_factory=Timing)
    ramp: RampPlan | None = None  # the pipeline asked for a progressive ramp onto a new lane
    # The patch gate (router.patch_gate): a warning intake recorded, and, with the local
    # provisioner, the gate ("warn" or "require") the lane lifecycle's own replay check runs
    # under before a patch is deployed in place ("": no check, as before the gate).
    gate_warning: str = ""
    replay_gate: str = ""


@dataclass
class HeldRequestInput(DurableInput):
    lane: str = ""
    version: str = ""
    orchestrator: str = ""
    instance_id: str | None = None
    body: str = ""  # the start's JSON input, as text
    content_type: str | None = "application/json"
    start_lazy_lane: bool = False
    deadline: str | None = None  # set on the first run: held_timeout after the request arrived
    timing: Timing = field(default_factory=Timing)
    # The caller's W3C trace context, so the forward joins the client's trace (router.telemetry).
    traceparent: str = ""
    tracestate: str = ""


@dataclass
class LaneCommand(DurableInput):
    """A release handed to a lane's lifecycle (start it, or raise it as an event)."""

    lane: str = ""
    release: Release | None = None
    timing: Timing = field(default_factory=Timing)
    # Names this hand-over: an activity delivered twice hands the same release over twice, and
    # the lifecycle acts on it once.
    handover: str = ""
    ramp: RampPlan | None = None  # ReleaseInput.ramp, for the lifecycle's activation
    replay_gate: str = ""  # ReleaseInput.replay_gate: absent from hand-overs written before the gate


# --- activity inputs and results ----------------------------------------------------------------

@dataclass
class AppRequest(DurableInput):
    lane: LaneSpec
    app: AppRef


@dataclass
class DeployRequest(DurableInput):
    lane: LaneSpec
    app: AppRef
    package: Package
    release_id: str = ""  # names the release in the deploy's log lines (router.telemetry)


@dataclass
class ReplayCheckRequest(DurableInput):
    """Replay the lane app's in-flight histories against `package` before it is deployed there."""

    app: AppRef
    package: Package


@dataclass
class ReplayVerdict(DurableInput):
    """What the replay of a lane's in-flight histories against a package found."""

    checked: int = 0
    clean: int = 0
    diverged: int = 0
    failed: int = 0
    summary: str = ""  # the instances that did not replay and their first difference

    @property
    def passed(self) -> bool:
        return self.diverged == 0 and self.failed == 0


@dataclass
class PackageSet(DurableInput):
    """What `set_package` did: `deployed_at` is when the package was set (before the site's
    restart), or "" when the app already had it (nothing restarts)."""

    deployed_at: str = ""


@dataclass
class ReadinessRequest(DurableInput):
    """One look at whether an app serves the package set at `deployed_at`."""

    app: AppRef
    deployed_at: str = ""
    triggers_synced: bool = False


@dataclass
class ReadinessReport(DurableInput):
    ready: bool
    detail: str = ""
    key_read: bool = False
    triggers_synced: bool = False


@dataclass
class AppTarget(DurableInput):
    """An activity about one lane app (key, health, count, delete)."""

    app: AppRef


@dataclass
class InFlightCount(DurableInput):
    remaining: int
    running: int = 0
    pending: int = 0
    suspended: int = 0
    oldest_created: str | None = None
    at_least: bool = False  # the lane had more than one page: the figures are lower bounds


@dataclass
class HealthReport(DurableInput):
    healthy: bool
    detail: str = ""


@dataclass
class ForwardRequest(DurableInput):
    lane: str
    app: AppRef
    orchestrator: str
    instance_id: str
    body: str
    content_type: str | None
    draining: bool  # a forward into a draining lane resets its grace period
    traceparent: str = ""  # the held start's caller (HeldRequestInput.traceparent)
    tracestate: str = ""


@dataclass
class Forwarded(DurableInput):
    instance_id: str


@dataclass
class WakeRequest(DurableInput):
    """Instances to raise `event` to (held requests of a lane, or a lane's lifecycle)."""

    instance_ids: list[str]
    event: str


@dataclass
class Done(DurableInput):
    """An activity that has nothing to return."""

    done: bool = True


@dataclass
class RampInput(DurableInput):
    """The orchestration that drives one ramp (`router.ramp.ramp_instance_id`)."""

    lane: str = ""
    started_at: str = ""  # names the ramp in the map: a later ramp of the same lane is another one
    timing: Timing = field(default_factory=Timing)


@dataclass
class RampCountRequest(DurableInput):
    """Count the lane's orchestrations created since the ramp began, and the Failed ones."""

    app: AppRef
    created_from: str


@dataclass
class RampFigures(DurableInput):
    started: int
    failed: int


def add_step(steps: list[Step], step: str, at: str, detail: str = "") -> list[Step]:
    """Append a progress step, keeping the most recent MAX_STEPS."""
    return (steps + [Step(step, at, detail)])[-MAX_STEPS:]


def lifecycle_instance_id(lane: str) -> str:
    """The lane lifecycle is a singleton per lane: its id derives from the lane key."""
    return f"lane-lifecycle-{lane}"
