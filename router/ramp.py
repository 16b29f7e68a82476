"""Progressive ramps (pure): which lane a version-less start takes while a ramp runs, and what
the router does at a step's end.

A start with an instance id is placed by a hash of that id, so a retried start (same id) lands
on the lane it took the first time, and, the shares only growing, stays there as the ramp
advances. A start without one is placed by a draw the caller makes. Nothing here reads the
clock or does I/O; the version map (`router.version_map`) applies what `step_outcome` decides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from router.lanes import Lane, LaneState, Ramp, RampCheck

BUCKETS = 100.0  # shares are percents
_HASH_SPAN = float(2**64)


def sticky_bucket(instance_id: str) -> float:
    """Where an instance id falls in [0, 100): the same id always falls in the same place, and ids
    spread evenly (sha256, not Python's `hash`, which is salted per process)."""
    digest = hashlib.sha256(instance_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPAN * BUCKETS


def takes_ramp_lane(share: int, instance_id: str | None, draw: float) -> bool:
    """Whether a start goes to the ramp lane at `share` percent; `draw` in [0, 100) places a start
    that brought no instance id."""
    bucket = sticky_bucket(instance_id) if instance_id else draw
    return bucket < share


def ramp_lane_serves(lane: Lane | None) -> bool:
    """A ramp sends starts only to an active lane that answers; otherwise they go to the current
    lane until the ramp's next check ends it."""
    return lane is not None and lane.state is LaneState.ACTIVE and lane.serves


@dataclass(frozen=True)
class StepOutcome:
    kind: Literal["advance", "complete", "abort"]
    reason: str = ""


def step_outcome(ramp: Ramp, check: RampCheck) -> StepOutcome:
    """At a step's end: roll back when the new lane's Failed share since the ramp began is above
    the plan's limit, complete after the last step, advance otherwise."""
    limit = ramp.plan.max_failed_ratio
    if check.ratio > limit:
        return StepOutcome("abort", f"{check.failed} of {check.started} orchestrations started on lane {ramp.lane} "
                                    f"since the ramp began failed ({check.ratio:.1%} > {limit:.1%})")
    if ramp.step + 1 >= len(ramp.plan.steps):
        return StepOutcome("complete", f"{check.failed} of {check.started} failed at the last step")
    return StepOutcome("advance")


def ramp_instance_id(lane: str, started_at: str) -> str:
    """The id of the orchestration that drives one ramp: deterministic, so starting it twice (a
    retried command, a replayed lifecycle) starts it once, and a later ramp of the same lane gets
    its own."""
    stamp = "".join(ch for ch in started_at if ch.isdigit())
    return f"ramp-{lane}-{stamp}"
