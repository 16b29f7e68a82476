"""The patch gate (issue 15): whether release intake takes a patch without proof that it replays (pure).

A patch (same MAJOR.MINOR as a lane that serves) is deployed in place: the lane's waiting
instances resume on the new code, and a patch that schedules differently (reordered or renamed
activities, a timer removed, an event wait added) breaks every one of them. `python -m router.cli
check-patch` replays the lane's in-flight histories against the new package and prints the
`replayCheck` a pipeline posts with the release; `ROUTER_PATCH_GATE` says what intake does
without a passing one: nothing (`off`), accept it with a warning step (`warn`), or refuse it
with a 409 naming the command (`require`).

The check proves where its histories came from: `GET /api/lanes/{lane}/histories` answers a
ticket (`X-Replay-Check-Ticket`), `{lane, issuedAt}` signed with the router's continuation-token
key (router/continuation.py: derived from the admin keys, so every instance and restart of the
router reads it), and check-patch puts it in the `replayCheck`. A check of another lane's
histories, an old one (ROUTER_PATCH_GATE_MAX_AGE_SECONDS) or a hand-written one does not let a
patch through: on Azure nothing re-checks it before the in-place deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from router.errors import Conflict, RouterError
from router.lanes import Lane, LaneState, Release

CHECK_COMMAND = "python -m router.cli check-patch --router URL --lane {lane} --package FILE.zip"
TICKET_HEADER = "X-Replay-Check-Ticket"
TICKET_KIND = "replayCheckTicket"  # tells a ticket from a continuation token signed with the same key
# Router instances' clocks may differ a little: a ticket dated this far ahead is still taken.
CLOCK_SKEW_SECONDS = 300


class Signer(Protocol):
    """The router's token signing (router.continuation.ContinuationTokens)."""

    def sign(self, document: dict[str, object]) -> str: ...

    def verified(self, token: object) -> dict[str, object] | None: ...


def issue_ticket(signer: Signer, lane: str, now: datetime) -> str:
    """The ticket the histories route answers: proof that `lane`'s histories were read from this
    router at `now`."""
    return signer.sign({"kind": TICKET_KIND, "lane": lane,
                        "issuedAt": now.astimezone(UTC).isoformat(timespec="seconds")})


@dataclass(frozen=True)
class TicketPolicy:
    """What intake checks a replayCheck's ticket with: the router's signing and the longest age."""

    signer: Signer
    max_age_seconds: int


class PatchGate(StrEnum):
    OFF = "off"
    WARN = "warn"
    REQUIRE = "require"


@dataclass(frozen=True)
class ReplayCheck:
    """What check-patch found for one package: its sha256, how many in-flight histories of which
    lane it replayed, when, whether every one replayed cleanly, and the router's ticket of the
    histories it read."""

    sha256: str
    instances_checked: int
    checked_at: str
    passed: bool
    lane: str
    ticket: str

    def to_json(self) -> dict[str, Any]:
        """The `replayCheck` field of a release, as intake accepts it."""
        return {"sha256": self.sha256, "instancesChecked": self.instances_checked,
                "checkedAt": self.checked_at, "passed": self.passed, "lane": self.lane, "ticket": self.ticket}


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


def check_problem(check: ReplayCheck | None, release: Release, policy: TicketPolicy,
                  now: datetime) -> tuple[str, str] | None:
    """Why `check` does not let `release` through as a patch, as (reason code, words), or None when
    it does: it passed, on this release's lane, with a ticket this router issued for that lane at
    most `policy.max_age_seconds` before `now`. `check`, when given, is for this release's package
    (validation.parse_replay_check compares the sha256)."""
    if check is None:
        return "missing", "it carries no replayCheck for its package"
    if not check.passed:
        return "failed", "its replay check did not pass"
    if check.lane != release.lane:
        return "other_lane", f"its replayCheck replayed lane {check.lane}'s histories, not lane {release.lane}'s"
    ticket = policy.signer.verified(check.ticket)
    issued = _issued_at(ticket) if ticket is not None and ticket.get("kind") == TICKET_KIND else None
    if ticket is None or issued is None:
        return "bad_ticket", ("its replayCheck's ticket was not issued by this router (check-patch takes it from "
                              f"GET /api/lanes/{release.lane}/histories)")
    if ticket.get("lane") != release.lane:
        return "ticket_other_lane", (f"its replayCheck's ticket was issued for lane {ticket.get('lane')}'s "
                                     f"histories, not lane {release.lane}'s")
    age = (now - issued).total_seconds()
    if age > policy.max_age_seconds:
        return "expired", (f"its replayCheck's histories were read {int(age)} s ago, more than "
                           f"ROUTER_PATCH_GATE_MAX_AGE_SECONDS ({policy.max_age_seconds}) allows: the lane's "
                           "in-flight instances may have changed since")
    if age < -CLOCK_SKEW_SECONDS:
        return "bad_ticket", "its replayCheck's ticket is dated in the future"
    return None


def _issued_at(ticket: dict[str, object]) -> datetime | None:
    issued = ticket.get("issuedAt")
    try:
        when = datetime.fromisoformat(issued) if isinstance(issued, str) else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


def gate_release(gate: PatchGate, lane: Lane | None, release: Release, check: ReplayCheck | None, *,
                 policy: TicketPolicy, now: datetime) -> str:
    """Intake's decision for one release: "" to take it as it is, a warning to record with it
    (`warn`), or PatchNotChecked (`require`), each naming why (`check_problem`)."""
    if gate is PatchGate.OFF or not is_patch(lane, release):
        return ""
    problem = check_problem(check, release, policy, now)
    if problem is None:
        return ""
    reason, why = problem
    command = CHECK_COMMAND.format(lane=release.lane)
    if gate is PatchGate.WARN:
        return (f"Patch {release.version} is deployed in place on lane {release.lane} but {why}; "
                f"instances waiting on the lane may not replay. Run {command}.")
    raise PatchNotChecked(
        f"Patch {release.version} would be deployed in place over lane {release.lane}'s in-flight "
        f"instances, and {why}. Run `{command}` and post its replayCheck with the release; if the "
        "check finds a divergence, release a new MINOR version instead.",
        lane=release.lane, version=release.version, command=command, field="replayCheck", reason=reason,
    )


def replay_refusal(lane: str, version: str, summary: str) -> PatchBreaksReplay:
    """The error a patch fails with when the lifecycle's own check finds a divergence."""
    return PatchBreaksReplay(
        f"Patch {version} does not replay the in-flight histories of lane {lane}: {summary}. The lane "
        "keeps its previous package; release a new MINOR version instead.",
        lane=lane, version=version,
    )
