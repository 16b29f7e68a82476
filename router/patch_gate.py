"""The patch gate (issue 15): whether release intake takes a patch without proof that it replays (pure).

A patch (same MAJOR.MINOR as a lane that serves) is deployed in place: the lane's waiting
instances resume on the new code, and a patch that schedules differently (reordered or renamed
activities, a timer removed, an event wait added) breaks every one of them. `python -m router.cli
check-patch` replays the lane's in-flight histories against the new package and prints the
`replayCheck` a pipeline posts with the release; `ROUTER_PATCH_GATE` says what intake does
without a passing one: nothing (`off`), accept it with a warning step (`warn`), or refuse it
with a 409 naming the command (`require`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from router.errors import Conflict, RouterError
from router.lanes import Lane, LaneState, Release

CHECK_COMMAND = "python -m router.cli check-patch --router URL --lane {lane} --package FILE.zip"


class PatchGate(StrEnum):
    OFF = "off"
    WARN = "warn"
    REQUIRE = "require"


@dataclass(frozen=True)
class ReplayCheck:
    """What check-patch found for one package: its sha256, how many in-flight histories it
    replayed, when, and whether every one replayed cleanly."""

    sha256: str
    instances_checked: int
    checked_at: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        """The `replayCheck` field of a release, as intake accepts it."""
        return {"sha256": self.sha256, "instancesChecked": self.instances_checked,
                "checkedAt": self.checked_at, "passed": self.passed}


class PatchNotChecked(Conflict):
    """A patch posted under ROUTER_PATCH_GATE=require without a passing replay check of its package."""

    code = "replay_check_required"


class RampOfAPatch(Conflict):
    """A release with a ramp that would be deployed in place: a patch replaces the lane's code for
    all its traffic at once, so there is nothing to ramp. Refused rather than ignored, so a
    pipeline that asked for a canary never gets an all-at-once deploy it did not expect."""

    code = "ramp_not_for_a_patch"


def refuse_ramp_of_a_patch(lane: Lane | None, release: Release) -> None:
    """409 when a release carrying a ramp is a patch (`is_patch`)."""
    if is_patch(lane, release):
        raise RampOfAPatch(
            f"Version {release.version} is a patch of lane {release.lane}: it is deployed in place, for all of the "
            f"lane's traffic at once, so it cannot ramp. Post it without a ramp (a patch must replay cleanly: "
            f"{CHECK_COMMAND.format(lane=release.lane)}), or release a new MINOR with the ramp.", field="ramp", lane=release.lane)


class PatchBreaksReplay(RouterError):
    """The lane's in-flight histories do not replay on the patch: deploying it in place would
    break them (the lifecycle's own check, local provisioner)."""

    status = 409
    code = "patch_breaks_replay"


def is_patch(lane: Lane | None, release: Release) -> bool:
    """Whether `release` would be deployed in place over instances in flight: its lane exists, is
    neither deleted nor failed (those provision afresh), and it is not the release already there."""
    if lane is None or lane.state in (LaneState.DELETED, LaneState.FAILED):
        return False
    return lane.release != release.shown()


def gate_release(gate: PatchGate, lane: Lane | None, release: Release, check: ReplayCheck | None) -> str:
    """Intake's decision for one release: "" to take it as it is, a warning to record with it
    (`warn`), or PatchNotChecked (`require`). `check`, when given, is already known to be for
    this release's package (validation.parse_replay_check compares the sha256)."""
    if gate is PatchGate.OFF or not is_patch(lane, release):
        return ""
    if check is not None and check.passed:
        return ""
    why = ("its replay check did not pass" if check is not None
           else "it carries no replayCheck for its package")
    command = CHECK_COMMAND.format(lane=release.lane)
    if gate is PatchGate.WARN:
        return (f"Patch {release.version} is deployed in place on lane {release.lane} but {why}; "
                f"instances waiting on the lane may not replay. Run {command}.")
    raise PatchNotChecked(
        f"Patch {release.version} would be deployed in place over lane {release.lane}'s in-flight "
        f"instances, and {why}. Run `{command}` and post its replayCheck with the release; if the "
        "check finds a divergence, release a new MINOR version instead.",
        lane=release.lane, version=release.version, command=command, field="replayCheck",
    )


def replay_refusal(lane: str, version: str, summary: str) -> PatchBreaksReplay:
    """The error a patch fails with when the lifecycle's own check finds a divergence."""
    return PatchBreaksReplay(
        f"Patch {version} does not replay the in-flight histories of lane {lane}: {summary}. The lane "
        "keeps its previous package; release a new MINOR version instead.",
        lane=lane, version=version,
    )
