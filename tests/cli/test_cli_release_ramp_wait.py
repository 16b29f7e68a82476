"""`dfrouter release --wait --ramp` follows the ramp past the lane's activation, against scripted
router answers (httpx.MockTransport) in the router's own shapes: GET /api/releases/{id}
(router/release_progress.py) carries the ramp's steps, tagged with the release in the version map
(router/version_map.py start_ramp, record_ramp_check, _end_ramp), and, while the map's latest ramp
is the release's, the ramp itself as GET /api/versionmap shows it (router/map_view.py ramp_view).
The release key cannot read the version map (router/admin_api.py: an admin route), so the release's
status is all the CLI reads. test_cli_router.py runs the same against a real router.
"""

from __future__ import annotations

import json
from typing import Any

from router.cli.errors import ExitCode
from tests.cli.test_cli_contract import STEPS, FakeClock, follow, release_status, scripted_release

RAMP_ARGS = ("--wait", "--ramp", "50,100", "--ramp-step-seconds", "60", "--max-failed-ratio", "0.2")
STARTED = {"step": "ramp_started", "at": "2026-12-01T10:00:02.000000+00:00",
           "detail": "50%, 100%, 60 s each, from lane 1.0"}
ADVANCED = {"step": "ramp_advanced", "at": "2026-12-01T10:01:02.000000+00:00",
            "detail": "100% (0 of 4 failed so far)"}
COMPLETED = {"step": "ramp_completed", "at": "2026-12-01T10:02:02.000000+00:00",
             "detail": "0 of 9 failed at the last step"}
ABORT_REASON = "2 of 4 orchestrations started on lane 1.1 since the ramp began failed (50.0% > 20.0%)"
ABORTED = {"step": "ramp_aborted", "at": "2026-12-01T10:01:02.000000+00:00", "detail": ABORT_REASON}
CHECK = {"at": "2026-12-01T10:01:02+00:00", "share": 50, "started": 4, "failed": 2, "ratio": 0.5}


def ramp(state: str, step: int = 1, checks: list[dict[str, Any]] | None = None, reason: str | None = None
         ) -> dict[str, Any]:
    return {"lane": "1.1", "fromLane": "1.0", "state": state, "steps": [50, 100], "stepSeconds": 60,
            "maxFailedRatio": 0.2, "step": step, "share": [50, 100][step - 1] if state == "running" else 0,
            "startedAt": STARTED["at"], "stepEndsAt": None, "endedAt": None, "reason": reason,
            "checks": checks or []}


def test_wait_with_a_ramp_follows_it_after_activation_until_it_completes():
    transport, seen = scripted_release(
        release_status("completed", [*STEPS, STARTED], ramp=ramp("running")),
        release_status("completed", [*STEPS, STARTED, ADVANCED], ramp=ramp("running", 2)),
        release_status("completed", [*STEPS, STARTED, ADVANCED, COMPLETED],
                       ramp=ramp("completed", 2, reason=COMPLETED["detail"])))
    run = follow(*RAMP_ARGS, transport=transport)
    assert run.code == ExitCode.OK, run.err
    assert run.lines[-4:] == [
        "2026-12-01T10:00:02.000000+00:00  ramp_started  50%, 100%, 60 s each, from lane 1.0",
        "2026-12-01T10:01:02.000000+00:00  ramp_advanced  100% (0 of 4 failed so far)",
        "2026-12-01T10:02:02.000000+00:00  ramp_completed  0 of 9 failed at the last step",
        "release release-abc completed: version 1.1.0 on lane 1.1; ramp completed: 0 of 9 failed at the last step",
    ]
    assert len(seen) == 1 + 3, "the lane's activation did not end the wait"
    assert json.loads(seen[0].content)["ramp"] == {"steps": [50, 100], "stepSeconds": 60, "maxFailedRatio": 0.2}


def test_wait_with_a_ramp_that_aborts_exits_1_with_the_reason_and_the_figures():
    transport, _ = scripted_release(
        release_status("completed", [*STEPS, STARTED], ramp=ramp("running")),
        release_status("completed", [*STEPS, STARTED, ABORTED], ramp=ramp("aborted", 1, [CHECK], ABORT_REASON)))
    run = follow(*RAMP_ARGS, transport=transport)
    assert run.code == ExitCode.FAILED
    assert run.lines[-1] == f"release release-abc completed: version 1.1.0 on lane 1.1; ramp aborted: {ABORT_REASON}"
    assert ("the ramp onto lane 1.1 aborted: " + ABORT_REASON
            + " (last check at 50%: 2 of 4 failed, ratio 0.5, max 0.2); lane 1.0 stays current") in run.err


def test_an_aborted_ramp_in_json_ends_with_the_status_carrying_the_ramps_figures():
    transport, _ = scripted_release(
        release_status("completed", [*STEPS, STARTED, ABORTED], ramp=ramp("aborted", 1, [CHECK], ABORT_REASON)))
    run = follow(*RAMP_ARGS, "--json", transport=transport)
    assert run.code == ExitCode.FAILED
    final = json.loads(run.lines[-1])
    assert final["type"] == "status" and final["ramp"]["checks"][-1] == CHECK
    assert not any(json.loads(line).get("type") == "error" for line in run.lines), "the status already said it"


def test_a_ramp_a_later_ramp_replaced_is_read_from_its_steps_alone():
    """A newer release's ramp takes the map's place; this release's ramp steps stay in its status."""
    replaced = {**ABORTED, "detail": "lane 1.2 activated with a ramp"}
    transport, _ = scripted_release(release_status("completed", [*STEPS, STARTED, replaced]))
    run = follow(*RAMP_ARGS, transport=transport)
    assert run.code == ExitCode.FAILED
    assert "aborted: lane 1.2 activated with a ramp" in run.err


def test_a_release_that_started_no_ramp_ends_at_activation():
    """A first lane (nothing current to ramp from) becomes current at once; a patch's ramp is ignored."""
    transport, seen = scripted_release(release_status("completed", STEPS))
    run = follow(*RAMP_ARGS, transport=transport)
    assert run.code == ExitCode.OK, run.err
    assert len(seen) == 2 and run.lines[-1] == "release release-abc completed: version 1.1.0 on lane 1.1"


def test_wait_without_ramp_ends_at_activation_even_while_a_ramp_runs():
    transport, seen = scripted_release(release_status("completed", [*STEPS, STARTED], ramp=ramp("running")))
    run = follow("--wait", transport=transport)
    assert run.code == ExitCode.OK and len(seen) == 2


def test_a_ramp_that_outlasts_the_timeout_exits_5_naming_the_ramp():
    transport, _ = scripted_release(release_status("completed", [*STEPS, STARTED], ramp=ramp("running")))
    clock = FakeClock()
    run = follow(*RAMP_ARGS, "--timeout", "30", transport=transport, clock=clock)
    assert run.code == ExitCode.TIMEOUT
    assert "The ramp of release release-abc has not ended after 30 s" in run.err


def test_the_default_timeout_with_a_ramp_leaves_room_for_every_step():
    """The issue's plan, 5,25,50,100 at 600 s, runs 40 minutes after activation: past the 30 minutes
    a lane alone is given, so the default adds the ramp's steps."""
    transport, _ = scripted_release(release_status("completed", [*STEPS, STARTED], ramp=ramp("running")))
    clock = FakeClock()
    run = follow("--wait", "--ramp", "5,25,50,100", "--poll", "60", transport=transport, clock=clock)
    assert run.code == ExitCode.TIMEOUT
    assert clock.now == 1800 + 4 * 600
    transport, _ = scripted_release(release_status("running", STEPS[:3]))
    clock = FakeClock()
    assert follow("--wait", "--poll", "60", transport=transport, clock=clock).code == ExitCode.TIMEOUT
    assert clock.now == 1800, "without a ramp the default is unchanged"


def test_the_ramp_the_status_shows_decides_even_when_its_steps_are_not_all_there():
    """A lane's story in the map is bounded (router/lanes.py MAX_LANE_EVENTS): the ramp the status
    carries is read first, so a long ramp whose first steps fell out is still followed to its end."""
    transport, seen = scripted_release(
        release_status("completed", STEPS, ramp=ramp("running", 2)),
        release_status("completed", STEPS, ramp=ramp("completed", 2, reason="0 of 9 failed at the last step")))
    run = follow(*RAMP_ARGS, transport=transport)
    assert run.code == ExitCode.OK and len(seen) == 1 + 2
    assert run.lines[-1].endswith("; ramp completed: 0 of 9 failed at the last step")
