"""The version map's types and their JSON: lanes, releases, what the drain monitor saw (pure).

The state machine that changes them is `router.version_map`; the admin view is
`router.map_view`. Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from provisioning.base import AppRef
from provisioning.packages import describe_location
from router.errors import UnknownLane
from router.urls import REDACTED
from router.versions import lane_key, lane_sort_key, parse_version


class LaneState(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    DRAINING = "draining"
    RETIRING = "retiring"
    DELETED = "deleted"
    FAILED = "failed"


ROUTABLE = frozenset({LaneState.PROVISIONING, LaneState.ACTIVE, LaneState.DRAINING})
# Lanes whose app may answer (a retiring app exists until its lifecycle deletes it).
WITH_APP = frozenset({LaneState.ACTIVE, LaneState.DRAINING, LaneState.RETIRING})
ProvisionMode = Literal["eager", "lazy"]
PROVISION_MODES: tuple[ProvisionMode, ...] = ("eager", "lazy")

MAX_LANE_EVENTS = 200  # a lane's story in the map is bounded like any history
MAX_RAMP_CHECKS = 100  # one per step at most; steps are whole percents


@dataclass(frozen=True)
class Release:
    """A build posted by a release pipeline.

    Its package URL may carry a secret (a SAS token in its query, user:password@), so two forms
    exist: the whole release, carried only in the durable inputs that deploy it, and `shown()`,
    the one the version map keeps and every response and log shows: the URL without its secret,
    and the id pinned because it was computed from the whole URL.
    """

    version: str
    package_url: str
    sha256: str = ""
    provision: ProvisionMode = "eager"
    pinned_id: str = ""  # set in the shown form only

    @property
    def lane(self) -> str:
        """The lane it belongs to: MAJOR.MINOR of its version (patch ignored)."""
        return lane_key(parse_version(self.version, allow_prerelease=True))

    @property
    def id(self) -> str:
        """The release's id: posting the same build again names the same release."""
        if self.pinned_id:
            return self.pinned_id
        digest = hashlib.sha256(f"{self.version}\n{self.package_url}\n{self.sha256}".encode()).hexdigest()
        return f"release-{self.version}-{digest[:12]}"

    @property
    def whole(self) -> bool:
        """Its package URL can be deployed: it is not the shown form, with its secret taken out."""
        return not self.package_url.endswith(f"?{REDACTED}")

    def shown(self) -> "Release":
        """The form the map keeps and shows (idempotent)."""
        return replace(self, package_url=without_secret(self.package_url), pinned_id=self.id)


def without_secret(location: str) -> str:
    """A package location without what may be a secret: query, fragment and user:password@ are
    dropped, and `?<redacted>` says something was (a redacted location is never deployed)."""
    bare = describe_location(location)
    return bare if bare == location else f"{bare}?{REDACTED}"


@dataclass(frozen=True)
class LaneFault:
    """Why a lane failed (or why its last patch or deletion did): a stable code and a message."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class DrainStatus:
    """What the drain monitor last saw on a draining lane."""

    remaining: int = 0
    oldest_created: str | None = None
    checked_at: str | None = None
    zero_since: str | None = None  # first of the current run of checks that saw nothing in flight


@dataclass(frozen=True)
class LaneEvent:
    at: str
    event: str
    detail: str = ""
    release_id: str = ""  # the release this step belongs to, when it belongs to one


@dataclass(frozen=True)
class Lane:
    key: str
    state: LaneState
    release: Release  # the release deployed, or being provisioned / deployed
    deployed_version: str | None = None
    app_name: str | None = None
    app_url: str | None = None
    app_exists: bool = False  # counted against the quota
    started: bool = True  # False for a lazy lane whose lifecycle waits for its first request
    closed: bool = False
    forced_retire: bool = False  # an admin retired it with instances possibly in flight
    error: LaneFault | None = None
    # A condition on top of the state: the app stopped answering (since when, and why).
    unhealthy: LaneFault | None = None
    unhealthy_since: str | None = None
    # The newest version this lane ever served, kept across deletion: no release goes below it.
    served_version: str | None = None
    created_at: str = ""
    updated_at: str = ""
    last_forward_at: str | None = None
    drain: DrainStatus = DrainStatus()
    held: tuple[str, ...] = ()  # held requests waiting for this lane to serve
    history: tuple[LaneEvent, ...] = ()

    @property
    def app(self) -> AppRef | None:
        """Where its app lives, as the map records it (no secret); None before it has one."""
        if not self.app_name or not self.app_url:
            return None
        return AppRef(name=self.app_name, base_url=self.app_url)

    @property
    def serves(self) -> bool:
        """Starts can be forwarded to its app now."""
        return self.state in (LaneState.ACTIVE, LaneState.DRAINING) and bool(self.app_url) and not self.unhealthy

    @property
    def awaited(self) -> bool:
        """A held start waits for it: it is still provisioning, or its app is being brought back."""
        return self.state is LaneState.PROVISIONING or (
            self.state in (LaneState.ACTIVE, LaneState.DRAINING) and self.unhealthy is not None)


class RampState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # the ramp lane became current; the lane it came from drains
    ABORTED = "aborted"  # the lane it came from stays current


@dataclass(frozen=True)
class RampPlan:
    """What an admin or a pipeline asked for: the shares (percent of version-less starts) the new
    lane takes step after step, how long each step lasts, and the Failed share that rolls back."""

    steps: tuple[int, ...]
    step_seconds: int
    max_failed_ratio: float


@dataclass(frozen=True)
class RampCheck:
    """The new lane's orchestrations at a step's end, counted since the ramp began."""

    at: str
    share: int  # the step that was checked
    started: int
    failed: int

    @property
    def ratio(self) -> float:
        return self.failed / self.started if self.started else 0.0


@dataclass(frozen=True)
class Ramp:
    """Version-less starts split between the current lane (`from_lane`) and `lane`."""

    lane: str
    from_lane: str
    plan: RampPlan
    started_at: str
    step_ends_at: str
    step: int = 0  # index into plan.steps
    state: RampState = RampState.RUNNING
    checks: tuple[RampCheck, ...] = ()
    ended_at: str | None = None
    reason: str = ""  # why it ended
    # The release whose activation started it ("" for an admin's): its steps join that release's
    # status (GET /api/releases/{id}), so a pipeline that asked for the ramp can follow it.
    release_id: str = ""

    @property
    def share(self) -> int:
        """Percent of version-less starts the ramp lane takes now (0 once the ramp ended)."""
        return self.plan.steps[self.step] if self.state is RampState.RUNNING else 0


@dataclass(frozen=True)
class VersionMap:
    lanes: dict[str, Lane] = field(default_factory=dict)
    current: str | None = None
    ramp: Ramp | None = None  # the latest ramp, kept after it ended to show how it went

    def lane(self, key: str) -> Lane:
        try:
            return self.lanes[key]
        except KeyError:
            raise UnknownLane(
                f"No release was posted for lane {key}.", lane=key, knownLanes=self.known_lanes()
            ) from None

    def known_lanes(self) -> list[str]:
        return sorted(self.lanes, key=lane_sort_key)

    def quota_used(self) -> int:
        return sum(1 for lane in self.lanes.values() if lane.app_exists)

    def current_version(self) -> str | None:
        if self.current is None:
            return None
        return self.lanes[self.current].deployed_version

    def running_ramp(self) -> Ramp | None:
        return self.ramp if self.ramp is not None and self.ramp.state is RampState.RUNNING else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"current": self.current, "lanes": {k: lane_to_dict(v) for k, v in self.lanes.items()}}
        if self.ramp is not None:  # a map without a ramp is written as before
            data["ramp"] = ramp_to_dict(self.ramp)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "VersionMap":
        if not data:
            return cls()
        return cls(
            lanes={k: lane_from_dict(v) for k, v in data.get("lanes", {}).items()},
            current=data.get("current"),
            ramp=ramp_from_dict(data.get("ramp")),
        )


def lane_to_dict(lane: Lane) -> dict[str, Any]:
    data = asdict(lane)
    data["state"] = lane.state.value
    data["held"] = list(lane.held)
    data["history"] = [asdict(e) for e in lane.history]
    return data


def lane_from_dict(data: dict[str, Any]) -> Lane:
    known = Lane.__dataclass_fields__
    values = {k: v for k, v in data.items() if k in known}
    return Lane(
        **{
            **values,
            "state": LaneState(data["state"]),
            # Maps written before the shown form may hold the whole URL: shown on load.
            "release": Release(**data["release"]).shown(),
            "error": fault_from_json(data.get("error")),
            "unhealthy": fault_from_json(data.get("unhealthy")),
            "drain": DrainStatus(**(data.get("drain") or {})),
            "held": tuple(data.get("held") or ()),
            "history": tuple(LaneEvent(**e) for e in data.get("history", ())),
        }
    )


def fault_from_json(value: Any) -> LaneFault | None:
    if not value:
        return None
    if isinstance(value, str):  # maps written before faults carried a code
        return LaneFault("lane_failed", value)
    return LaneFault(str(value.get("code", "lane_failed")), str(value.get("message", "")))


def plan_to_dict(plan: RampPlan) -> dict[str, Any]:
    return {"steps": list(plan.steps), "step_seconds": plan.step_seconds, "max_failed_ratio": plan.max_failed_ratio}


def plan_from_dict(data: dict[str, Any]) -> RampPlan:
    return RampPlan(tuple(int(s) for s in data["steps"]), int(data["step_seconds"]), float(data["max_failed_ratio"]))


def ramp_to_dict(ramp: Ramp) -> dict[str, Any]:
    data = asdict(ramp)
    data["plan"] = plan_to_dict(ramp.plan)
    data["state"] = ramp.state.value
    data["checks"] = [asdict(c) for c in ramp.checks]
    return data


def ramp_from_dict(data: dict[str, Any] | None) -> Ramp | None:
    if not data:
        return None
    known = Ramp.__dataclass_fields__
    values = {k: v for k, v in data.items() if k in known}
    return Ramp(**{
        **values,
        "plan": plan_from_dict(data["plan"]),
        "state": RampState(data.get("state", RampState.RUNNING.value)),
        "checks": tuple(RampCheck(**c) for c in data.get("checks", ())),
    })
