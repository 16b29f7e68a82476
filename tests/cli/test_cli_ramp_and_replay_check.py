"""`dfrouter release --replay-check/--ramp`, `lanes current --ramp` and the ramp in `versionmap`,
against scripted router answers (httpx.MockTransport) in the router's own shapes: the 202 of
POST /api/current with a ramp (router/admin_api.py _start_ramp), the version map's `ramp`
(router/map_view.py ramp_view), the patch gate's 409 (router/patch_gate.py PatchNotChecked).

The replay-check files are written by check-patch's own output code (router/cli/check_patch.py
_show), so a change to what check-patch prints that `release --replay-check` cannot read fails here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.cli import check_patch
from router.cli.errors import ExitCode
from router.cli.output import Output, RedactingStream
from router.replay_check import InstanceVerdict, ReplayReport
from tests.cli.support import dfrouter

KEY = "cli-ramp-test-key-" + "r" * 40
ENV = {"DFROUTER_URL": "https://router.example.net", "DFROUTER_KEY": KEY}
SHA = "ab" * 32
TICKET = "eyJraW5kIjoicmVwbGF5Q2hlY2tUaWNrZXQifQ-router-signed"  # opaque to the CLI: the router reads it
ACCEPTED = {"id": "release-abc", "version": "1.0.1", "lane": "1.0",
            "statusQueryGetUri": "https://router.example.net/api/releases/release-abc", "duplicate": False,
            "retry": False}
RUNNING_RAMP = {"lane": "1.2", "fromLane": "1.1", "state": "running", "steps": [5, 25, 50, 100], "stepSeconds": 600,
                "maxFailedRatio": 0.05, "step": 2, "share": 25, "startedAt": "2026-12-01T10:00:00+00:00",
                "stepEndsAt": "2026-12-01T10:20:00+00:00", "endedAt": None, "reason": None,
                "checks": [{"at": "2026-12-01T10:10:00+00:00", "share": 5, "started": 40, "failed": 1,
                            "ratio": 0.025}]}


def recording(route: tuple[str, str], answer: Callable[[httpx.Request], httpx.Response]
              ) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if (request.method, request.url.path) == route:
            return answer(request)
        return httpx.Response(404, json={"error": "unknown_route", "message": "No route."})

    return httpx.MockTransport(handle), seen


def check_patch_output(tmp_path: Path, *, as_json: bool, passed: bool = True, lane: str = "1.0") -> Path:
    """What `dfrouter check-patch` prints for one instance, written by its own code to a file."""
    verdict = (InstanceVerdict("order-1", "chain", "clean") if passed else
               InstanceVerdict("order-1", "chain", "diverged", event_index=1, expected="reserve", produced="charge"))
    report = ReplayReport((verdict,))
    check = {"sha256": SHA, "instancesChecked": 1, "checkedAt": "2026-12-01T10:00:00+00:00", "passed": passed,
             "lane": lane, "ticket": TICKET}
    out = io.StringIO()
    output = Output(RedactingStream(out, []), RedactingStream(io.StringIO(), []), as_json=as_json, fancy=False)
    check_patch._show(type("Ctx", (), {"output": output})(), lane, report, check)  # type: ignore[arg-type]
    path = tmp_path / ("check.json" if as_json else "check.txt")
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def release(*argv: str, transport: httpx.MockTransport) -> Any:
    return dfrouter("release", "--version", "1.0.1", "--package", "https://builds.example.net/app.zip", *argv,
                    env=ENV, transport=transport, secrets=(KEY,))


@pytest.mark.parametrize("as_json", [True, False], ids=["check-patch --json", "check-patch plain output"])
def test_release_posts_the_replay_check_check_patch_wrote_with_the_checked_packages_sha256(tmp_path, as_json):
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(202, json=ACCEPTED))
    run = release("--replay-check", str(check_patch_output(tmp_path, as_json=as_json)), transport=transport)
    assert run.code == ExitCode.OK, run.err
    posted = json.loads(seen[0].content)
    # router/validation.py parse_replay_check: the release must carry the sha256 that was checked.
    assert posted["sha256"] == SHA
    assert posted["replayCheck"] == {"sha256": SHA, "instancesChecked": 1, "checkedAt": "2026-12-01T10:00:00+00:00",
                                     "passed": True, "lane": "1.0", "ticket": TICKET}


def test_release_takes_the_replay_check_object_alone(tmp_path):
    alone = tmp_path / "replay-check.json"
    alone.write_text(json.dumps({"sha256": SHA, "instancesChecked": 0, "checkedAt": "2026-12-01T10:00:00Z",
                                 "passed": True, "lane": "1.0", "ticket": TICKET}))
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(202, json=ACCEPTED))
    assert release("--replay-check", str(alone), "--sha256", SHA.upper(), transport=transport).code == ExitCode.OK
    assert json.loads(seen[0].content)["replayCheck"]["instancesChecked"] == 0


def test_a_failed_check_is_sent_and_the_gates_409_exits_6_naming_check_patch(tmp_path):
    """Under ROUTER_PATCH_GATE=require, intake refuses a patch whose check did not pass (router/patch_gate.py)."""
    refusal = {"error": "replay_check_required", "message": "Patch 1.0.1 would be deployed in place over lane 1.0's "
               "in-flight instances, and its replay check did not pass. Run `python -m router.cli check-patch "
               "--router URL --lane 1.0 --package FILE.zip` and post its replayCheck with the release; if the check "
               "finds a divergence, release a new MINOR version instead.", "lane": "1.0", "version": "1.0.1",
               "field": "replayCheck"}
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(409, json=refusal))
    run = release("--replay-check", str(check_patch_output(tmp_path, as_json=False, passed=False)), "--json",
                  transport=transport)
    assert run.code == ExitCode.CONFLICT
    assert json.loads(seen[0].content)["replayCheck"]["passed"] is False
    assert "replay_check_required" in run.err and "check-patch" in run.err and "new MINOR" in run.err
    assert json.loads(run.lines[-1])["error"] == "replay_check_required"


def no_release_output(tmp_path: Path, *, as_json: bool, lane: str = "1.0") -> Path:
    """What check-patch prints for a lane the router has no release for, written by its own code."""
    out = io.StringIO()
    output = Output(RedactingStream(out, []), RedactingStream(io.StringIO(), []), as_json=as_json, fancy=False)
    check_patch._not_a_patch(type("Ctx", (), {"output": output})(), lane, "unknown_lane")  # type: ignore[arg-type]
    path = tmp_path / ("no-release.json" if as_json else "no-release.txt")
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize("as_json", [True, False], ids=["check-patch --json", "check-patch plain output"])
def test_a_first_release_of_a_minor_is_sent_without_a_replay_check_when_check_patch_found_no_lane(tmp_path, as_json):
    """examples/*/release.yml run the gate for PATCH > 0: x.y.1 may be its lane's first release."""
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(202, json=ACCEPTED))
    run = release("--replay-check", str(no_release_output(tmp_path, as_json=as_json)), transport=transport)
    assert run.code == ExitCode.OK, run.err
    assert "replayCheck" not in json.loads(seen[0].content)
    # Another lane's "no release" is still a mistake of the pipeline's, not a pass.
    (tmp_path / "other").mkdir()
    other = release("--replay-check", str(no_release_output(tmp_path / "other", as_json=as_json, lane="2.0")),
                    transport=transport)
    assert other.code == ExitCode.BAD_INPUT and "lane 2.0" in other.err
    assert len(seen) == 1


def histories_answer(status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
                     ) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_: httpx.Request) -> httpx.Response:
        if isinstance(body, dict):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, text=body, headers={"content-type": "application/x-ndjson", **(headers or {})})

    return answer


@pytest.mark.parametrize(("error", "said"), [
    ("unknown_lane", "lane 1.0 has no release yet: this is not a patch, nothing to check"),
    ("lane_gone", "lane 1.0 has no release yet: this is not a patch, nothing to check (its lane was deleted)"),
])
def test_check_patch_on_a_lane_without_a_release_exits_0_printing_no_replay_check(tmp_path, error, said):
    """The router's 404 unknown_lane / 410 lane_gone (router/admin_api.py lane_histories): nothing in flight."""
    package = tmp_path / "app.zip"
    package.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    status = 404 if error == "unknown_lane" else 410
    transport, _ = recording(("GET", "/api/lanes/1.0/histories"),
                             histories_answer(status, {"error": error, "message": "No release.", "lane": "1.0"}))
    for as_json in (False, True):
        run = dfrouter("check-patch", "--lane", "1.0", "--package", str(package), *(["--json"] if as_json else []),
                       env=ENV, transport=transport, secrets=(KEY,))
        assert run.code == ExitCode.OK, run.err
        assert "replayCheck" not in run.out
        if as_json:
            assert json.loads(run.out) == {"lane": "1.0", "patch": False, "message": said}
        else:
            assert run.out.strip() == said


def test_check_patch_refuses_histories_without_the_routers_ticket(tmp_path):
    """A router older than the ticket: its intake would not take the check, so none is printed."""
    package = tmp_path / "app.zip"
    package.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    transport, _ = recording(("GET", "/api/lanes/1.0/histories"), histories_answer(200, ""))
    run = dfrouter("check-patch", "--lane", "1.0", "--package", str(package), env=ENV, transport=transport,
                   secrets=(KEY,))
    assert run.code == ExitCode.FAILED and "X-Replay-Check-Ticket" in run.err
    assert "replayCheck" not in run.out


def test_replay_check_files_that_do_not_fit_are_usage_errors_before_anything_is_sent(tmp_path):
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(202, json=ACCEPTED))
    (tmp_path / "other").mkdir()
    other_lane = check_patch_output(tmp_path / "other", as_json=True, lane="2.0")
    other_lane_plain = check_patch_output(tmp_path / "other", as_json=False, lane="2.0")
    not_a_check = tmp_path / "notes.txt"
    not_a_check.write_text("instances checked: 1\n")
    no_sha = tmp_path / "nosha.json"
    no_sha.write_text(json.dumps({"replayCheck": {"passed": True}}))
    cases = [
        (("--replay-check", str(other_lane)), "lane 2.0"),
        # The plain output, as the pipeline examples keep it (| tee check-patch.txt).
        (("--replay-check", str(other_lane_plain)), "lane 2.0"),
        (("--replay-check", str(check_patch_output(tmp_path, as_json=True)), "--sha256", "cd" * 32), "another package"),
        (("--replay-check", str(tmp_path / "missing.json")), "cannot read"),
        (("--replay-check", str(not_a_check)), "no replay check"),
        (("--replay-check", str(no_sha)), "sha256"),
    ]
    for argv, said in cases:
        run = release(*argv, transport=transport)
        assert run.code == ExitCode.BAD_INPUT, argv
        assert said in run.err, (argv, run.err)
    assert seen == []


def test_release_sends_its_ramp_with_the_step_and_ratio_options_or_their_defaults():
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(202, json=ACCEPTED))
    assert release("--ramp", "5,25,50,100", "--ramp-step-seconds", "300", "--max-failed-ratio", "0.1",
                   transport=transport).code == ExitCode.OK
    assert release("--ramp", "50, 100", transport=transport).code == ExitCode.OK
    assert json.loads(seen[0].content)["ramp"] == {"steps": [5, 25, 50, 100], "stepSeconds": 300, "maxFailedRatio": 0.1}
    # The defaults are the example plan: ten minutes a step, abort above 5% Failed.
    assert json.loads(seen[1].content)["ramp"] == {"steps": [50, 100], "stepSeconds": 600, "maxFailedRatio": 0.05}
    assert release(transport=transport).code == ExitCode.OK
    assert "ramp" not in json.loads(seen[-1].content)


@pytest.mark.parametrize("argv", [("--ramp", "5,abc"), ("--ramp", "-5,100"), ("--ramp", "5,100", "--max-failed-ratio", "2"),
                                  ("--ramp", "100", "--ramp-step-seconds", "0"), ("--max-failed-ratio", "0.1"),
                                  ("--ramp-step-seconds", "60")])
def test_malformed_ramp_options_exit_2_without_a_request(argv):
    transport, seen = recording(("POST", "/api/releases"), lambda r: httpx.Response(202, json=ACCEPTED))
    run = release(*argv, transport=transport)
    assert run.code == ExitCode.BAD_INPUT, run.err
    assert "ramp" in run.err or "ratio" in run.err or "seconds" in run.err
    assert seen == []


def test_a_plan_the_router_refuses_shows_its_400_naming_the_field():
    """The plan's rules (increasing, ending at 100) are the router's (router/validation.py parse_ramp)."""
    refusal = {"error": "bad_request", "message": "ramp.steps must increase and end at 100, not [50, 25].",
               "field": "ramp.steps"}
    transport, _ = recording(("POST", "/api/releases"), lambda r: httpx.Response(400, json=refusal))
    run = release("--ramp", "50,25", transport=transport)
    assert run.code == ExitCode.BAD_INPUT and "ramp.steps must increase" in run.err


def test_lanes_current_with_a_ramp_posts_it_and_prints_the_ramps_state():
    just_started = {**RUNNING_RAMP, "step": 1, "share": 5, "checks": [], "stepEndsAt": "2026-12-01T10:10:00+00:00"}
    transport, seen = recording(("POST", "/api/current"),
                                lambda r: httpx.Response(202, json={"current": "1.1", "ramp": just_started}))
    run = dfrouter("lanes", "current", "1.2", "--ramp", "5,25,50,100", "--ramp-step-seconds", "600",
                   env=ENV, transport=transport, secrets=(KEY,))
    assert run.code == ExitCode.OK, run.err
    assert json.loads(seen[0].content) == {"lane": "1.2", "ramp": {"steps": [5, 25, 50, 100], "stepSeconds": 600,
                                                                   "maxFailedRatio": 0.05}}
    assert run.lines == [("lane 1.1 stays current while the ramp runs; ramp 1.1 -> 1.2 running: step 1 of 4, 5% of "
                          "version-less starts (until 2026-12-01T10:10:00+00:00); steps 5,25,50,100% every 600 s, "
                          "abort above 0.05 failed")]
    as_json = dfrouter("lanes", "current", "1.2", "--ramp", "5,25,50,100", "--json", env=ENV, transport=transport)
    assert json.loads(as_json.out) == {"current": "1.1", "ramp": just_started}


def test_versionmap_shows_a_running_ramps_step_share_and_last_check_and_an_aborted_ones_reason():
    lanes = {"1.1": {"state": "active", "current": True, "deployed_version": "1.1.0"},
             "1.2": {"state": "active", "current": False, "deployed_version": "1.2.0"}}
    aborted = {**RUNNING_RAMP, "state": "aborted", "share": 0, "stepEndsAt": None,
               "endedAt": "2026-12-01T10:20:00+00:00",
               "reason": "3 of 20 orchestrations started on lane 1.2 since the ramp began failed (0.15 > 0.05)",
               "checks": [*RUNNING_RAMP["checks"], {"at": "2026-12-01T10:20:00+00:00", "share": 25, "started": 20,
                                                     "failed": 3, "ratio": 0.15}]}
    for ramp, expected in [
        (RUNNING_RAMP, ("ramp 1.1 -> 1.2 running: step 2 of 4, 25% of version-less starts (until "
                        "2026-12-01T10:20:00+00:00); last check at 5%: 1 of 40 failed (ratio 0.025); "
                        "steps 5,25,50,100% every 600 s, abort above 0.05 failed")),
        (aborted, ("ramp 1.1 -> 1.2 aborted: 3 of 20 orchestrations started on lane 1.2 since the ramp began "
                   "failed (0.15 > 0.05); last check at 25%: 3 of 20 failed (ratio 0.15); steps 5,25,50,100% every "
                   "600 s, abort above 0.05 failed")),
    ]:
        vmap = {"current": "1.1", "currentVersion": "1.1.0", "quota": {"used": 2, "limit": 100}, "lanes": lanes,
                "ramp": ramp}
        transport, _ = recording(("GET", "/api/versionmap"), lambda r, vmap=vmap: httpx.Response(200, json=vmap))
        run = dfrouter("versionmap", env=ENV, transport=transport)
        assert run.code == ExitCode.OK, run.err
        assert run.lines[-1] == expected
    without = {"current": "1.1", "quota": {"used": 1, "limit": 100}, "lanes": lanes, "ramp": None}
    transport, _ = recording(("GET", "/api/versionmap"), lambda r: httpx.Response(200, json=without))
    assert not any(line.startswith("ramp") for line in dfrouter("versionmap", env=ENV, transport=transport).lines)
