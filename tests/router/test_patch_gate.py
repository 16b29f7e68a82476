"""The patch gate at release intake (issue 15): ROUTER_PATCH_GATE, `replayCheck`, and the decision."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from provisioning.config import ProvisioningConfig
from router import runtime
from router.continuation import ContinuationTokens, router_signer
from router.errors import BadRequest, SettingsError
from router.lanes import Lane, LaneState, Release
from router.patch_gate import (
    CHECK_COMMAND,
    PatchGate,
    PatchNotChecked,
    ReplayCheck,
    TicketPolicy,
    check_problem,
    gate_release,
    is_patch,
    issue_ticket,
)
from router.replay_check import ReplayReport
from router.settings import Settings
from router.validation import parse_release, parse_replay_check
from tests.router.router_harness import Router, running_router, with_router

SHA = "ab" * 32
OTHER_SHA = "cd" * 32
# The decision's clock and this router's signing (its admin keys, as router.continuation derives it).
NOW = datetime(2026, 12, 1, 16, 0, 30, tzinfo=UTC)
SIGNER = ContinuationTokens(("admin-key-" + "a" * 32,))
POLICY = TicketPolicy(SIGNER, max_age_seconds=3600)
TICKET = issue_ticket(SIGNER, "1.0", NOW - timedelta(seconds=30))
CHECK = {"sha256": SHA, "instancesChecked": 3, "checkedAt": "2026-12-01T16:00:00+00:00", "passed": True,
         "lane": "1.0", "ticket": TICKET}
SETTINGS = Settings(verify_local_packages=False)


def _release(version: str = "1.0.1", sha256: str = SHA) -> Release:
    return Release(version, f"/packages/{version}.zip", sha256)


def _lane(state: LaneState = LaneState.ACTIVE, release: Release | None = None) -> Lane:
    return Lane(key="1.0", state=state, release=(release or _release("1.0.0")).shown())


# --- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "gate"), [(None, PatchGate.OFF), ("off", PatchGate.OFF), ("warn", PatchGate.WARN),
                                           ("REQUIRE", PatchGate.REQUIRE)])
def test_router_patch_gate_is_off_unless_set(raw: str | None, gate: PatchGate) -> None:
    env = {} if raw is None else {"ROUTER_PATCH_GATE": raw}
    assert Settings.from_env(env).patch_gate is gate


@pytest.mark.parametrize("raw", ["on", "true", "required", ""])
def test_a_bad_patch_gate_fails_at_start_naming_the_setting(raw: str) -> None:
    if raw == "":
        # An empty setting is the default, as every ROUTER_* setting reads it (EnvReader).
        assert Settings.from_env({"ROUTER_PATCH_GATE": raw}).patch_gate is PatchGate.OFF
        return
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ROUTER_PATCH_GATE": raw})
    assert raised.value.details["setting"] == "ROUTER_PATCH_GATE"
    assert "off or warn or require" in raised.value.message


def test_the_tickets_max_age_is_an_hour_unless_set() -> None:
    assert Settings.from_env({}).patch_gate_max_age_seconds == 3600
    assert Settings.from_env({"ROUTER_PATCH_GATE_MAX_AGE_SECONDS": "600"}).patch_gate_max_age_seconds == 600


@pytest.mark.parametrize("raw", ["0", "-5", "1.5", "an hour"])
def test_a_bad_max_age_fails_at_start_naming_the_setting(raw: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ROUTER_PATCH_GATE_MAX_AGE_SECONDS": raw})
    assert raised.value.details["setting"] == "ROUTER_PATCH_GATE_MAX_AGE_SECONDS"


# --- validation ---------------------------------------------------------------------------------

def test_a_replay_check_is_read_with_every_field() -> None:
    check = parse_replay_check(dict(CHECK, sha256=SHA.upper()), _release())
    assert check == ReplayCheck(SHA, 3, "2026-12-01T16:00:00+00:00", True, "1.0", TICKET)
    assert check.to_json() == CHECK
    assert parse_replay_check(None, _release()) is None


@pytest.mark.parametrize(("change", "field"), [
    ({"sha256": "abc"}, "replayCheck.sha256"),
    ({"sha256": None}, "replayCheck.sha256"),
    ({"instancesChecked": "3"}, "replayCheck.instancesChecked"),
    ({"instancesChecked": True}, "replayCheck.instancesChecked"),
    ({"instancesChecked": -1}, "replayCheck.instancesChecked"),
    ({"instancesChecked": 2.0}, "replayCheck.instancesChecked"),
    ({"checkedAt": "yesterday"}, "replayCheck.checkedAt"),
    ({"checkedAt": "2026-12-01T16:00:00"}, "replayCheck.checkedAt"),  # no offset: whose clock?
    ({"checkedAt": 1764604800}, "replayCheck.checkedAt"),
    ({"passed": "true"}, "replayCheck.passed"),
    ({"passed": 1}, "replayCheck.passed"),
    ({"extra": 1}, "replayCheck.extra"),
    ({"sha256": OTHER_SHA}, "replayCheck.sha256"),  # a check of another package
    ({"lane": "1"}, "replayCheck.lane"),
    ({"lane": "1.0.1"}, "replayCheck.lane"),  # a version, not its lane
    ({"lane": 1.0}, "replayCheck.lane"),
    ({"lane": None}, "replayCheck.lane"),
    ({"ticket": ""}, "replayCheck.ticket"),
    ({"ticket": 42}, "replayCheck.ticket"),
    ({"ticket": TICKET + "=="}, "replayCheck.ticket"),  # the router's tickets carry no padding
    ({"ticket": TICKET + "\n"}, "replayCheck.ticket"),
    ({"ticket": "a" * 4097}, "replayCheck.ticket"),
])
def test_a_malformed_replay_check_is_a_400_naming_its_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_replay_check({**CHECK, **change}, _release())
    assert raised.value.details["field"] == field


def test_a_replay_check_missing_a_field_or_not_an_object_is_a_400() -> None:
    for name in CHECK:
        with pytest.raises(BadRequest) as raised:
            parse_replay_check({k: v for k, v in CHECK.items() if k != name}, _release())
        assert raised.value.details["field"] == f"replayCheck.{name}"
    with pytest.raises(BadRequest) as raised:
        parse_replay_check([CHECK], _release())
    assert raised.value.details["field"] == "replayCheck"


def test_a_release_with_a_replay_check_must_carry_its_sha256() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_replay_check(CHECK, _release(sha256=""))
    assert raised.value.details["field"] == "sha256"


def test_release_intake_accepts_the_replay_check_field() -> None:
    body = {"version": "1.0.1", "packageUrl": "/packages/1.0.1.zip", "sha256": SHA, "replayCheck": CHECK}
    assert parse_release(body, SETTINGS) == _release()


# --- the decision (pure) --------------------------------------------------------------------------

def test_only_a_release_deployed_in_place_is_a_patch() -> None:
    assert is_patch(_lane(), _release())
    assert is_patch(_lane(LaneState.DRAINING), _release())
    assert is_patch(_lane(LaneState.PROVISIONING), _release())
    assert not is_patch(None, _release())  # a new lane: nothing in flight
    assert not is_patch(_lane(LaneState.DELETED), _release())
    assert not is_patch(_lane(LaneState.FAILED), _release())  # provisions afresh
    assert not is_patch(_lane(release=_release()), _release())  # the same release again


def _check(*, passed: bool = True, lane: str = "1.0", ticket: str = TICKET) -> ReplayCheck:
    return ReplayCheck(SHA, 2, "2026-12-01T16:00:00+00:00", passed, lane, ticket)


def _gate(gate: PatchGate, check: ReplayCheck | None, *, lane: Lane | None = None, release: Release | None = None,
          now: datetime = NOW) -> str:
    return gate_release(gate, lane or _lane(), release or _release(), check, policy=POLICY, now=now)


def test_off_takes_every_release() -> None:
    assert _gate(PatchGate.OFF, None) == ""
    assert _gate(PatchGate.OFF, _check(ticket="forged")) == ""


@pytest.mark.parametrize("gate", [PatchGate.WARN, PatchGate.REQUIRE])
def test_a_passing_check_with_a_fresh_ticket_of_its_lane_or_no_patch_passes_the_gate(gate: PatchGate) -> None:
    assert _gate(gate, _check()) == ""
    assert gate_release(gate, None, _release("2.0.0"), None, policy=POLICY, now=NOW) == ""
    # Exactly the max age is still good; a ticket a little ahead (another instance's clock) too.
    at_the_limit = issue_ticket(SIGNER, "1.0", NOW - timedelta(seconds=3600))
    assert _gate(gate, _check(ticket=at_the_limit)) == ""
    assert _gate(gate, _check(ticket=issue_ticket(SIGNER, "1.0", NOW + timedelta(seconds=60)))) == ""


def test_warn_takes_an_unchecked_patch_with_a_warning_naming_the_command() -> None:
    warning = _gate(PatchGate.WARN, None)
    assert "1.0.1" in warning and CHECK_COMMAND.format(lane="1.0") in warning


ANOTHER_ROUTER = ContinuationTokens(("admin-key-" + "b" * 32,))
# Each way a check fails to prove that THIS router's histories of THIS lane were replayed recently.
UNPROVEN = [
    pytest.param(None, "missing", "carries no replayCheck", id="no check"),
    pytest.param(_check(passed=False), "failed", "did not pass", id="failed"),
    pytest.param(_check(lane="2.0", ticket=issue_ticket(SIGNER, "2.0", NOW)), "other_lane",
                 "replayed lane 2.0's histories, not lane 1.0's", id="check of another lane"),
    pytest.param(_check(ticket=issue_ticket(SIGNER, "2.0", NOW)), "ticket_other_lane",
                 "ticket was issued for lane 2.0's histories", id="ticket of another lane"),
    pytest.param(_check(ticket=issue_ticket(ANOTHER_ROUTER, "1.0", NOW)), "bad_ticket",
                 "not issued by this router", id="another router's ticket"),
    pytest.param(_check(ticket="eyJsYW5lIjoiMS4wIn0"), "bad_ticket", "not issued by this router",
                 id="hand-written ticket"),
    pytest.param(_check(ticket=TICKET[:-3] + ("AAA" if not TICKET.endswith("AAA") else "BBB")), "bad_ticket",
                 "not issued by this router", id="edited ticket"),
    # A continuation token is signed with the same key, but is no ticket.
    pytest.param(_check(ticket=SIGNER.sign({"lane": "1.0", "token": None, "scope": "{}"})), "bad_ticket",
                 "not issued by this router", id="a continuation token"),
    pytest.param(_check(ticket=issue_ticket(SIGNER, "1.0", NOW - timedelta(seconds=3601))), "expired",
                 "read 3601 s ago, more than ROUTER_PATCH_GATE_MAX_AGE_SECONDS (3600)", id="expired"),
    pytest.param(_check(ticket=issue_ticket(SIGNER, "1.0", NOW + timedelta(hours=2))), "bad_ticket",
                 "dated in the future", id="from the future"),
]


@pytest.mark.parametrize(("check", "reason", "words"), UNPROVEN)
def test_require_refuses_a_patch_whose_check_proves_nothing_with_a_409_naming_the_command_and_why(
        check: ReplayCheck | None, reason: str, words: str) -> None:
    with pytest.raises(PatchNotChecked) as raised:
        _gate(PatchGate.REQUIRE, check)
    error = raised.value
    assert error.status == 409 and error.code == "replay_check_required"
    assert error.details["command"] == CHECK_COMMAND.format(lane="1.0")
    assert error.details["reason"] == reason
    assert words in error.message, error.message
    assert "python -m router.cli check-patch" in error.message and "MINOR" in error.message
    if check is not None:
        assert check.ticket not in error.message and check.ticket not in json.dumps(error.body())


@pytest.mark.parametrize(("check", "reason", "words"), UNPROVEN)
def test_warn_records_why_a_check_proves_nothing(check: ReplayCheck | None, reason: str, words: str) -> None:
    warning = _gate(PatchGate.WARN, check)
    assert words in warning and CHECK_COMMAND.format(lane="1.0") in warning
    assert check is None or check.ticket not in warning


def test_the_decision_ages_a_ticket_by_the_time_it_is_given() -> None:
    check = _check(ticket=issue_ticket(SIGNER, "1.0", NOW))
    assert _gate(PatchGate.REQUIRE, check, now=NOW + timedelta(seconds=3600)) == ""
    assert check_problem(check, _release(), POLICY, NOW + timedelta(seconds=3601))[0] == "expired"
    short = TicketPolicy(SIGNER, max_age_seconds=60)
    assert check_problem(check, _release(), short, NOW + timedelta(seconds=61))[0] == "expired"


# --- intake, through the router -------------------------------------------------------------------

def _run(tmp_path: Path, gate: PatchGate, scenario: Any) -> None:
    async def main() -> None:
        # The azure provisioner: the router itself never runs a package (no lifecycle check).
        async with running_router(tmp_path, patch_gate=gate,
                                  provisioning=ProvisioningConfig(provisioner="azure",
                                                                  allowed_package_hosts=("packages.test",))) as router:
            await scenario(router)

    asyncio.run(main())


async def _serving_1_0(router: Router) -> None:
    first = await router.http.post("/api/releases", json={"version": "1.0.0", "packageUrl": _url("1.0.0")})
    assert first.status_code == 202, first.text
    await router.wait_for_lane("1.0", "active")


def _url(version: str) -> str:
    return f"https://packages.test/app-{version}.zip"


def _fresh_check(**change: Any) -> dict[str, Any]:
    """CHECK with a ticket of the running router's own signing, issued now."""
    ticket = issue_ticket(router_signer(runtime.current().settings), "1.0", datetime.now(UTC))
    return {**CHECK, "ticket": ticket, **change}


def _patch(check: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"version": "1.0.1", "packageUrl": _url("1.0.1"), "sha256": SHA}
    if check is not None:
        body["replayCheck"] = check
    return body


def test_require_refuses_an_unchecked_patch_and_takes_a_checked_one(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        await _serving_1_0(router)
        refused = await router.http.post("/api/releases", json=_patch())
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "replay_check_required"
        assert "python -m router.cli check-patch" in refused.json()["message"]
        failing = await router.http.post("/api/releases", json=_patch(_fresh_check(passed=False)))
        assert failing.status_code == 409, failing.text
        # Another router's ticket (CHECK's is signed with other keys) proves nothing here.
        forged = await router.http.post("/api/releases", json=_patch(CHECK))
        assert forged.status_code == 409 and forged.json()["reason"] == "bad_ticket", forged.text
        assert (await router.lane("1.0"))["release"]["version"] == "1.0.0"  # nothing registered
        taken = await router.http.post("/api/releases", json=_patch(_fresh_check()))
        assert taken.status_code == 202, taken.text
        await router.wait_for("the patch deployed",
                              lambda: _deployed(router, "1.0.1"))
        # A new lane is not a patch: nothing runs on it yet.
        new_lane = await router.http.post("/api/releases", json={"version": "1.1.0", "packageUrl": _url("1.1.0")})
        assert new_lane.status_code == 202, new_lane.text

    _run(tmp_path, PatchGate.REQUIRE, scenario)


async def _deployed(router: Router, version: str) -> bool:
    lane = await router.lane("1.0")
    return lane is not None and lane.get("deployed_version") == version


def test_warn_takes_an_unchecked_patch_and_records_a_warning_step(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        await _serving_1_0(router)
        taken = await router.http.post("/api/releases", json=_patch())
        assert taken.status_code == 202, taken.text
        progress = await router.wait_for("the release's warning step", lambda: _steps(router, taken.json()["id"]))
        warning = next(s for s in progress if s["step"] == "patch_gate_warning")
        assert "check-patch" in warning["detail"]

    _run(tmp_path, PatchGate.WARN, scenario)


async def _steps(router: Router, release_id: str) -> list[dict[str, Any]] | None:
    steps = (await router.release_status(release_id))["steps"]
    return steps if any(s["step"] == "patch_gate_warning" for s in steps) else None


def test_off_takes_an_unchecked_patch_without_a_warning(tmp_path: Path) -> None:
    async def scenario(router: Router) -> None:
        await _serving_1_0(router)
        taken = await router.http.post("/api/releases", json=_patch())
        assert taken.status_code == 202, taken.text
        await router.wait_for("the patch deployed", lambda: _deployed(router, "1.0.1"))
        steps = (await router.release_status(taken.json()["id"]))["steps"]
        assert not any(s["step"] == "patch_gate_warning" for s in steps)

    _run(tmp_path, PatchGate.OFF, scenario)


# --- the replay's verdicts (router.replay_check, pure parts) --------------------------------------

def test_verdict_lines_of_devhost_replay_make_a_report() -> None:
    from router.replay_check import parse_verdicts

    stdout = "\n".join(json.dumps(line) for line in [
        {"instanceId": "a", "name": "chain", "verdict": "clean"},
        {"instanceId": "b", "name": "chain", "verdict": "diverged", "eventIndex": 3,
         "expected": "activity 'reserve'", "produced": "activity 'charge'"},
        {"instanceId": "c", "name": "timed", "verdict": "failed", "error": "ValueError: boom"},
    ]) + "\n"
    report = ReplayReport(tuple(parse_verdicts(stdout)))
    assert (report.checked, report.count("clean"), report.count("diverged"), report.count("failed")) == (3, 1, 1, 1)
    assert not report.passed
    assert report.verdicts[1].first_difference == "event 3: expected activity 'reserve', produced activity 'charge'"
    summary = report.summary()
    assert summary.startswith("2 of 3 in-flight instance(s) do not replay")
    assert "b (chain) diverged" in summary and "c (timed) failed at ValueError: boom" in summary
    assert ReplayReport(()).passed and ReplayReport(()).summary() == ""


def test_what_devhost_replay_writes_is_what_check_patch_reads() -> None:
    # The two sides of the --json format are separate copies (the deployed router has no devhost):
    # this pins them together.
    from devhost.replay import Verdict
    from router.replay_check import InstanceVerdict, parse_verdicts

    written = [Verdict("a", "chain", "clean"),
               Verdict("b", "chain", "diverged", 3, "activity 'reserve'", "nothing: the orchestrator returned"),
               Verdict("c", "timed", "failed", error="ValueError: boom")]
    stdout = "".join(json.dumps(v.to_json()) + "\n" for v in written)
    assert parse_verdicts(stdout) == [InstanceVerdict(v.instance_id, v.name, v.verdict, v.event_index, v.expected,
                                                      v.produced, v.error) for v in written]


@pytest.mark.parametrize("stdout", ["not json\n", '{"instanceId": "a"}\n', '[1]\n',
                                    '{"instanceId": "a", "verdict": "maybe"}\n'])
def test_anything_but_verdict_lines_is_a_replay_that_did_not_run(stdout: str) -> None:
    from router.replay_check import ReplayRunError, parse_verdicts

    with pytest.raises(ReplayRunError):
        parse_verdicts(stdout)


def test_the_replay_environment_keeps_the_routers_settings_and_packages_out(tmp_path: Path) -> None:
    from router.replay_check import replay_env

    env = replay_env(tmp_path / "worker", tmp_path / "hostlib", base={
        "PATH": "/usr/bin", "VIRTUAL_ENV": "/venv", "PYTHONPATH": "/router", "ROUTER_ADMIN_KEYS": "secret",
        "DEVHOST_MASTER_KEY": "secret"})
    assert env["PATH"] == "/usr/bin" and env["PYTHONPATH"] == f"{tmp_path / 'hostlib'}:{tmp_path / 'worker'}"
    assert not {"VIRTUAL_ENV", "ROUTER_ADMIN_KEYS", "DEVHOST_MASTER_KEY"} & set(env)


# --- the local lifecycle's own check (the orchestration's branches; the replay itself: e2e) -----

async def _local_patch(router: Router, check: dict[str, Any] | None) -> dict[str, Any]:
    await router.release("1.0.0")
    await router.wait_for_lane("1.0", "active")
    body: dict[str, Any] = {"version": "1.0.1", "packageUrl": "/packages/1.0.1.zip", "sha256": SHA}
    if check is not None:
        body["replayCheck"] = check
    taken = await router.http.post("/api/releases", json=body)
    assert taken.status_code == 202, taken.text

    async def ended() -> dict[str, Any] | None:
        status = await router.release_status(taken.json()["id"])
        return status if status["state"] in ("completed", "failed") else None

    return dict(await router.wait_for("the patch to end", ended))


@with_router(patch_gate=PatchGate.REQUIRE)
async def test_under_require_a_patch_whose_local_check_cannot_run_fails_and_the_lane_keeps_its_package(router):
    """The fake backend's package paths do not exist, so the lifecycle's replay cannot run: under
    require that refuses the patch rather than deploy it unchecked."""
    outcome = await _local_patch(router, _fresh_check())
    assert outcome["state"] == "failed", outcome
    assert outcome["error"]["error"] == "package_error", outcome
    assert router.backend.deployed["lane-1.0"] == "1.0.0"  # set_package never ran for the patch
    lane = await router.lane("1.0")
    assert lane["state"] == "active" and lane["deployed_version"] == "1.0.0"


@with_router(patch_gate=PatchGate.WARN)
async def test_under_warn_a_patch_whose_local_check_cannot_run_deploys_with_a_warning(router):
    outcome = await _local_patch(router, None)
    assert outcome["state"] == "completed", outcome
    warnings = [s["detail"] for s in outcome["steps"] if s["step"] == "patch_gate_warning"]
    assert any("check-patch" in w for w in warnings), warnings  # intake's
    assert any(w.startswith("replay check not run") for w in warnings), warnings  # the lifecycle's
    assert router.backend.deployed["lane-1.0"] == "1.0.1"
