"""`dfrouter` against the router in the dev host, over real HTTP, with the local provisioner.

The module's router gets its two lanes from the CLI itself, once (`released`): 1.0.0 followed as a
pipeline's log shows it (a subprocess, so stdout is a pipe, not a terminal), then 1.1.0 with
--json. An hour-long order holds lane 1.0 while it drains, as in tests/e2e/test_admin_and_lazy.py.
Every run checks that no key of the router or of a lane was printed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from demo.router_client import RouterClient, wait_for
from router.cli.errors import ExitCode
from samples.build import package_sha256
from tests.cli.support import Run, dfrouter
from tests.e2e.conftest import all_lane_secrets, start_ok

pytestmark = pytest.mark.e2e

POLL = ("--poll", "0.2")


def keys_of(router: RouterClient) -> tuple[str, ...]:
    return (router.function_key, router.release_key, router.master_key)


def cli(router: RouterClient, *argv: str, key: str | None = None) -> Run:
    """dfrouter with the router's URL and a key (default: the admin's) from the environment."""
    env = {"DFROUTER_URL": router.base_url, "DFROUTER_KEY": key if key is not None else router.master_key}
    return dfrouter(*argv, env=env, secrets=keys_of(router))


def release_args(version: str, package: Any, *extra: str) -> tuple[str, ...]:
    return ("release", "--version", version, "--package", str(package), "--sha256", package_sha256(package), *extra)


@dataclass(frozen=True)
class Released:
    plain: subprocess.CompletedProcess[str]
    as_json: Run


@pytest.fixture(scope="module")
def released(router, packages) -> Released:
    env = {**os.environ, "DFROUTER_URL": router.base_url, "DFROUTER_KEY": router.release_key}
    plain = subprocess.run([sys.executable, "-m", "router.cli", *release_args("1.0.0", packages["1.0.0"]), "--wait",
                            *POLL, "--timeout", "240"], capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    anchor = start_ok(router, "1.0.0", {"order_id": "holds-lane-1.0", "wait_seconds": 3600})
    wait_for(lambda: router.get(anchor["statusQueryGetUri"]).json()["runtimeStatus"] == "Running", 20,
             "the order holding lane 1.0 to run")
    as_json = cli(router, *release_args("1.1.0", packages["1.1.0"]), "--wait", "--json", *POLL, "--timeout", "240",
                  key=router.release_key)
    assert as_json.code == 0, as_json.out + as_json.err
    return Released(plain, as_json)


def step_line(step: dict[str, Any]) -> str:
    return f"{step['at']}  {step['step']}" + (f"  {step['detail']}" if step.get("detail") else "")


def test_a_followed_release_prints_one_plain_line_per_step_in_order(router, released):
    for secret in keys_of(router):
        assert secret not in released.plain.stdout + released.plain.stderr
    lines = released.plain.stdout.splitlines()
    release_id = re.match(r"release (release-\S+) accepted: version 1\.0\.0 on lane 1\.0$", lines[0]).group(1)
    assert lines[1] == f"status: {router.base_url}/api/releases/{release_id}"
    status = router.release_status(release_id)
    assert lines[2:-1] == [step_line(step) for step in status["steps"]], "each step once, in the router's order"
    assert len(lines[2:-1]) >= 4 and "activated" in lines[-2]
    assert lines[-1] == f"release {release_id} completed: version 1.0.0 on lane 1.0"


def test_a_followed_release_in_json_is_one_document_per_line_ending_with_its_status(router, released):
    documents = [json.loads(line) for line in released.as_json.lines]
    assert documents[0]["type"] == "accepted" and documents[0]["version"] == "1.1.0"
    assert documents[-1]["type"] == "status" and documents[-1]["state"] == "completed"
    steps = [d for d in documents if d["type"] == "step"]
    final = router.release_status(documents[0]["id"])
    assert [(s["step"], s["at"]) for s in steps] == [(s["step"], s["at"]) for s in final["steps"]]


@pytest.mark.parametrize(
    ("version", "package", "exit_code", "error"),
    [
        ("two", None, ExitCode.BAD_INPUT, "bad_version"),
        ("3.0.0", "https://evil.example.com/app.zip", ExitCode.BAD_INPUT, "package_rejected"),
        ("1.0.0", "1.1.0", ExitCode.CONFLICT, "version_not_newer"),  # lane 1.0 has 1.0.0 already
    ],
)
def test_a_refused_release_exits_with_its_code_naming_the_routers_error(router, released, packages, version,
                                                                         package, exit_code, error):
    location = packages.get(package or "1.0.0", package)
    run = cli(router, "release", "--version", version, "--package", str(location), key=router.release_key)
    assert run.code == exit_code, run.err
    assert error in run.err and run.out == ""


def test_a_wrong_or_missing_key_exits_3_naming_the_role_needed(router, packages):
    release = ("release", "--version", "5.0.0", "--package", str(packages["1.0.0"]))
    unknown = cli(router, *release, key="not-a-key-of-this-router-" + "x" * 20)
    assert unknown.code == ExitCode.AUTH and "401 unauthorized" in unknown.err and "ROUTER_RELEASE_KEYS" in unknown.err
    admin = cli(router, *release, key=router.master_key)
    assert admin.code == ExitCode.AUTH and "403 forbidden" in admin.err and "release pipeline key" in admin.err
    pipeline = cli(router, "versionmap", key=router.release_key)
    assert pipeline.code == ExitCode.AUTH and "admin key" in pipeline.err
    missing = cli(router, "status", key="")
    assert missing.code == ExitCode.AUTH and "No key was given" in missing.err


def test_an_unreachable_router_exits_4():
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = dfrouter("gate", env={"DFROUTER_URL": f"http://127.0.0.1:{port}", "DFROUTER_KEY": "k" * 40})
    assert run.code == ExitCode.UNREACHABLE and "Cannot reach the router" in run.err


def test_a_release_whose_lane_fails_exits_1_naming_the_error_code(fresh_router, packages):
    package = packages["1.0.0"]
    run = cli(fresh_router, "release", "--version", "1.0.0", "--package", str(package), "--sha256", "0" * 64,
              "--wait", *POLL, "--timeout", "120", key=fresh_router.release_key)
    assert run.code == ExitCode.FAILED, run.out + run.err
    assert "package_error" in run.err and "sha256" in run.err
    assert run.lines[-1].endswith("failed: version 1.0.0 on lane 1.0")


def test_the_gate_closes_while_an_orchestration_runs_and_opens_when_none_does(router, released):
    order = start_ok(router, "1.1.0", {"order_id": "gate", "wait_seconds": 600})
    closed = wait_for(lambda: (run := cli(router, "gate", "--lane", "1.1")).code == ExitCode.FAILED and run, 20,
                      "the gate to count the order")
    assert closed.lines[0] == "gate closed: orchestrations run on 1.1"
    everywhere = cli(router, "gate", "--json")
    assert everywhere.code == ExitCode.FAILED and "1.0" in json.loads(everywhere.out)["busyLanes"], "the anchor order"
    router.http.post(order["terminatePostUri"].replace("{text}", "test"),
                     headers={"x-functions-key": router.function_key})
    wait_for(lambda: cli(router, "gate", "--lane", "1.1").code == ExitCode.OK, 30, "the gate on lane 1.1 to open")
    assert cli(router, "gate", "--lane", "1.1").lines == ["gate open: no orchestration runs on lane 1.1"]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_versionmap_and_status_print_readable_tables(router, released):
    vmap = cli(router, "versionmap")
    assert vmap.code == ExitCode.OK
    assert vmap.lines[0].startswith("current lane: 1.1 (1.1.0)")
    assert cells(vmap.lines[1])[:4] == ["lane", "state", "version", "current"]
    rows = {cells(line)[0]: cells(line) for line in vmap.lines[3:]}
    lanes = router.version_map()["lanes"]
    assert rows["1.1"][1:4] == ["active", "1.1.0", "yes"]
    # Draining, or active again after the lanes test rolled back and forward (version_map.set_current).
    assert rows["1.0"][1:4] == [lanes["1.0"]["state"], "1.0.0", "no"]
    assert json.loads(cli(router, "versionmap", "--json").out)["lanes"].keys() == router.version_map()["lanes"].keys()
    status = cli(router, "status")
    assert status.code == ExitCode.OK and status.lines[0] == "orchestrations in flight: yes"
    assert {cells(line)[0] for line in status.lines[3:]} == {"1.0", "1.1"}


def test_lanes_current_rolls_back_and_forward_and_close_closes_a_draining_lane(router, released):
    assert cli(router, "lanes", "close", "1.1").code == ExitCode.CONFLICT, "the current lane cannot be closed"
    assert cli(router, "lanes", "retire", "1.1", "--force").code == ExitCode.CONFLICT
    unknown = cli(router, "lanes", "current", "9.9")
    assert unknown.code == ExitCode.BAD_INPUT and "unknown_lane" in unknown.err
    assert cli(router, "lanes", "current", "1.0").lines == ["lane 1.0 is current: version 1.0.0 (state active)"]
    assert router.version_map()["current"] == "1.0"
    assert cli(router, "lanes", "current", "1.1").code == ExitCode.OK
    assert router.version_map()["current"] == "1.1"
    closed = cli(router, "lanes", "close", "1.0")
    assert closed.code == ExitCode.OK and closed.lines[0].startswith("lane 1.0 closed")
    assert router.version_map()["lanes"]["1.0"]["closed"] is True


def test_instances_are_listed_across_lanes_page_by_page(router, released):
    for n in range(3):
        router.wait_instance(start_ok(router, "1.1.0", {"order_id": f"page-{n}", "wait_seconds": 0})["statusQueryGetUri"])
    run = cli(router, "--verbose", "instances", "--page-size", "1", "--json")
    assert run.code == ExitCode.OK, run.err
    instances = json.loads(run.out)["instances"]
    assert {i["lane"] for i in instances} == {"1.0", "1.1"}
    assert len({(i["lane"], i["instanceId"]) for i in instances}) == len(instances) >= 4
    assert run.err.count("/api/instances -> 200") >= len(instances), "a page of one instance per request"
    top = cli(router, "instances", "--lane", "1.1", "--status", "Completed", "--top", "2", "--page-size", "1")
    assert top.lines[0] == "2 instance(s)" and {cells(line)[0] for line in top.lines[3:]} == {"1.1"}
    for secret in all_lane_secrets(router):
        assert secret not in run.out + run.err + top.out


def test_no_key_is_printed_even_verbose_and_from_the_command_line(router, released):
    run = dfrouter("--verbose", "versionmap", "--router", router.base_url, "--key", router.master_key,
                   secrets=keys_of(router))
    assert run.code == ExitCode.OK and "GET" in run.err
    refused = dfrouter("--verbose", "release", "--version", "9.0.0", "--package", "/nowhere.zip", "--router",
                       router.base_url, "--key", router.master_key, secrets=keys_of(router))
    assert refused.code == ExitCode.AUTH


def test_a_ramp_plan_the_router_refuses_exits_2_with_its_message_and_changes_nothing(router, released, packages):
    """The CLI parses only shapes; the plan's rules are the router's (router/validation.py parse_ramp),
    which also refuses a field it does not know, so the 400 on `steps` shows the names fit."""
    before = router.version_map()
    on_current = cli(router, "lanes", "current", "1.0", "--ramp", "50,25", "--ramp-step-seconds", "1")
    assert on_current.code == ExitCode.BAD_INPUT and "ramp.steps must increase and end at 100" in on_current.err
    on_release = cli(router, *release_args("1.2.0", packages["1.1.0"]), "--ramp", "50,25", key=router.release_key)
    assert on_release.code == ExitCode.BAD_INPUT and "ramp.steps must increase" in on_release.err
    after = router.version_map()
    assert (after["current"], after.get("ramp"), after["lanes"].keys()) == (before["current"], before.get("ramp"),
                                                                            before["lanes"].keys())


def test_a_release_with_a_ramp_completes_and_versionmap_shows_the_ramp(fresh_router, packages):
    router = fresh_router
    first = cli(router, *release_args("1.0.0", packages["1.0.0"]), "--wait", *POLL, "--timeout", "120",
                key=router.release_key)
    assert first.code == ExitCode.OK, first.out + first.err
    ramped = cli(router, *release_args("1.1.0", packages["1.1.0"]), "--ramp", "50,100", "--ramp-step-seconds", "1",
                 "--max-failed-ratio", "0.5", "--wait", *POLL, "--timeout", "120", key=router.release_key)
    assert ramped.code == ExitCode.OK, ramped.out + ramped.err
    # --wait with --ramp follows the ramp past the lane's activation, to its end.
    assert "ramp_completed" in ramped.out and "; ramp completed" in ramped.lines[-1], ramped.out
    # The lane's activation started the ramp: the map shows it from then on.
    shown = wait_for(lambda: next((line for line in cli(router, "versionmap").lines
                                   if line.startswith("ramp 1.0 -> 1.1 ")), None), 30, "the ramp in the map")
    assert shown.endswith("steps 50,100% every 1 s, abort above 0.5 failed")
    done = wait_for(lambda: next((line for line in cli(router, "versionmap").lines
                                  if line.startswith("ramp 1.0 -> 1.1 completed")), None), 60, "the ramp to complete")
    assert "last check at 100%: 0 of 0 failed" in done  # no start during the ramp: nothing failed
    assert cli(router, "versionmap").lines[0].startswith("current lane: 1.1 (1.1.0)")
