"""The CLI against scripted router answers (httpx.MockTransport): exit codes, the progress lines,
--json, the gate's rule, paging, and that the key is never printed.

The answers are the router's own shapes (router/releases_api.py, router/admin_api.py,
router/errors.py); test_cli_router.py checks the same commands against a real router.
"""

from __future__ import annotations

import io
import os
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from router.cli.errors import ExitCode
from router.cli.main import main
from tests.cli.support import dfrouter

KEY = "cli-test-key-" + "k" * 40
ENV = {"DFROUTER_URL": "https://router.example.net", "DFROUTER_KEY": KEY}
ACCEPTED = {"id": "release-abc", "version": "1.1.0", "lane": "1.1",
            "statusQueryGetUri": "https://router.example.net/api/releases/release-abc", "duplicate": False,
            "retry": False}
STEPS = [{"step": "received", "at": "2026-12-01T10:00:00.000000+00:00"},
         {"step": "registered", "at": "2026-12-01T10:00:00.100000+00:00"},
         {"step": "handed_to_lane", "at": "2026-12-01T10:00:00.200000+00:00"},
         {"step": "app_created", "at": "2026-12-01T10:00:01.000000+00:00", "detail": "lane-1-1"},
         {"step": "activated", "at": "2026-12-01T10:00:02.000000+00:00"}]


def release_status(state: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "release-abc", "version": "1.1.0", "lane": "1.1", "state": state, "steps": steps, **extra}


def scripted_release(*statuses: dict[str, Any]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A router that accepts the release, then answers `statuses` in turn (the last one again)."""
    seen: list[httpx.Request] = []
    answers = list(statuses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST" and request.url.path == "/api/releases":
            return httpx.Response(202, json=ACCEPTED)
        if request.url.path == "/api/releases/release-abc":
            return httpx.Response(200, json=answers.pop(0) if len(answers) > 1 else answers[0])
        return httpx.Response(404, json={"error": "unknown_route", "message": "No route."})

    return httpx.MockTransport(handle), seen


def answering(status: int, body: Any = None, *, text: str | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


class FakeClock:
    """Time that passes only when the follow loop sleeps: no test waits for real."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def follow(*argv: str, transport: httpx.MockTransport, clock: FakeClock | None = None):  # type: ignore[no-untyped-def]
    clock = clock or FakeClock()
    return dfrouter("release", "--version", "1.1.0", "--package", "https://builds.example.net/app.zip", *argv,
                    env=ENV, transport=transport, clock=clock, sleep=clock.sleep, secrets=(KEY,))


def test_a_followed_release_prints_each_step_once_in_order_with_its_timestamp():
    transport, seen = scripted_release(release_status("running", STEPS[:1]), release_status("running", STEPS[:3]),
                                       release_status("running", STEPS[:3]), release_status("completed", STEPS))
    run = follow("--wait", transport=transport)
    assert run.code == ExitCode.OK, run.err
    assert run.lines == [
        "release release-abc accepted: version 1.1.0 on lane 1.1",
        "status: https://router.example.net/api/releases/release-abc",
        "2026-12-01T10:00:00.000000+00:00  received",
        "2026-12-01T10:00:00.100000+00:00  registered",
        "2026-12-01T10:00:00.200000+00:00  handed_to_lane",
        "2026-12-01T10:00:01.000000+00:00  app_created  lane-1-1",
        "2026-12-01T10:00:02.000000+00:00  activated",
        "release release-abc completed: version 1.1.0 on lane 1.1",
    ]
    posted = json.loads(seen[0].content)
    assert posted == {"version": "1.1.0", "packageUrl": "https://builds.example.net/app.zip"}
    assert all(request.headers["x-functions-key"] == KEY for request in seen)


def test_steps_wait_for_the_hand_over_so_the_lanes_earlier_stamped_steps_come_out_in_time_order():
    """Until the intake hands the release over, the router shows only the intake's steps; the lane's
    `registered`, stamped in the intake's episode, joins at the hand-over (router/release_progress.py)."""
    received, lane_registered = STEPS[0], {"step": "registered", "at": STEPS[0]["at"], "detail": "1.1.0 (eager)"}
    intake_registered = {"step": "registered", "at": "2026-12-01T10:00:00.050000+00:00", "detail": "new_lane"}
    transport, _ = scripted_release(
        release_status("running", [received, intake_registered]),
        release_status("running", [received, lane_registered, intake_registered, STEPS[2]]),
        release_status("completed", [received, lane_registered, intake_registered, *STEPS[2:]]))
    run = follow("--wait", transport=transport)
    assert run.lines[2:-1] == [
        "2026-12-01T10:00:00.000000+00:00  received",
        "2026-12-01T10:00:00.000000+00:00  registered  1.1.0 (eager)",
        "2026-12-01T10:00:00.050000+00:00  registered  new_lane",
        "2026-12-01T10:00:00.200000+00:00  handed_to_lane",
        "2026-12-01T10:00:01.000000+00:00  app_created  lane-1-1",
        "2026-12-01T10:00:02.000000+00:00  activated",
    ]


def test_a_release_without_wait_prints_its_id_and_does_not_follow():
    transport, seen = scripted_release(release_status("running", []))
    run = follow("--sha256", "a" * 64, "--lazy", transport=transport)
    assert run.code == ExitCode.OK
    assert run.lines[0] == "release release-abc accepted: version 1.1.0 on lane 1.1"
    assert [r.method for r in seen] == ["POST"]
    assert json.loads(seen[0].content) == {"version": "1.1.0", "packageUrl": "https://builds.example.net/app.zip",
                                           "sha256": "a" * 64, "provision": "lazy"}


def test_json_follow_prints_one_document_per_line_ending_with_the_status():
    transport, _ = scripted_release(release_status("running", STEPS[:2]), release_status("completed", STEPS))
    run = follow("--wait", "--json", transport=transport)
    documents = [json.loads(line) for line in run.lines]
    assert [d["type"] for d in documents] == ["accepted", "step", "step", "step", "step", "step", "status"]
    assert [d["step"] for d in documents[1:6]] == [s["step"] for s in STEPS]
    assert documents[-1]["state"] == "completed" and run.code == ExitCode.OK


def test_a_lazy_release_waiting_for_its_first_request_is_done():
    transport, _ = scripted_release(release_status("waiting_for_first_request", STEPS[:2]))
    assert follow("--wait", "--lazy", transport=transport).code == ExitCode.OK


def test_a_failed_release_exits_1_with_the_routers_error_code_and_message():
    failed = release_status("failed", STEPS[:2], error={"error": "package_error", "message": "sha256 mismatch"})
    transport, _ = scripted_release(failed)
    run = follow("--wait", transport=transport)
    assert run.code == ExitCode.FAILED == 1
    assert "package_error" in run.err and "sha256 mismatch" in run.err
    assert run.lines[-1] == "release release-abc failed: version 1.1.0 on lane 1.1"


def test_a_failed_release_in_json_ends_with_its_status_not_a_second_error_document():
    failed = release_status("failed", [], error={"error": "package_error", "message": "sha256 mismatch"})
    transport, _ = scripted_release(failed)
    run = follow("--wait", "--json", transport=transport)
    assert run.code == ExitCode.FAILED
    assert json.loads(run.lines[-1])["error"]["error"] == "package_error"


def test_a_superseded_release_exits_1():
    transport, _ = scripted_release(release_status("superseded", STEPS[:2]))
    run = follow("--wait", transport=transport)
    assert run.code == ExitCode.FAILED and "superseded" in run.err


def test_following_past_the_timeout_exits_5_and_says_how_to_go_on():
    transport, seen = scripted_release(release_status("running", STEPS[:1]))
    clock = FakeClock()
    run = follow("--wait", "--timeout", "10", "--poll", "3", transport=transport, clock=clock)
    assert run.code == ExitCode.TIMEOUT == 5
    assert "10 s" in run.err and "again" in run.err
    assert clock.now == 10 and len(seen) == 1 + 5  # the post, then reads at 0, 3, 6, 9, 10


def test_a_router_blip_while_following_is_tried_again():
    answers = iter([httpx.Response(503, json={"error": "internal_error", "message": "restarting"}),
                    httpx.Response(200, json=release_status("completed", STEPS))])

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=ACCEPTED) if request.method == "POST" else next(answers)

    run = follow("--wait", transport=httpx.MockTransport(handle))
    assert run.code == ExitCode.OK and "trying again" in run.err


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": "bad_version", "message": "Version 'two' is not MAJOR.MINOR.PATCH."}, ExitCode.BAD_INPUT),
        (404, {"error": "unknown_lane", "message": "No release was posted for lane 9.9."}, ExitCode.BAD_INPUT),
        (413, {"error": "payload_too_large", "message": "Too large."}, ExitCode.BAD_INPUT),
        (422, {"error": "package_rejected", "message": "Host not allowed."}, ExitCode.BAD_INPUT),
        (409, {"error": "version_not_newer", "message": "1.0.0 is not newer than 1.0.1."}, ExitCode.CONFLICT),
        (410, {"error": "lane_gone", "message": "Lane 1.0 is deleted."}, ExitCode.CONFLICT),
        (401, {"error": "unauthorized", "message": "This route needs a release key."}, ExitCode.AUTH),
        (403, {"error": "forbidden", "message": "The key sent is a admin key."}, ExitCode.AUTH),
        (500, {"error": "internal_error", "message": "The router failed."}, ExitCode.UNREACHABLE),
        (502, {"error": "lane_unreachable", "message": "No answer."}, ExitCode.UNREACHABLE),
    ],
)
def test_each_router_answer_has_its_exit_code_and_its_error_code_is_shown(status, body, code):
    run = dfrouter("release", "--version", "1.0.0", "--package", "https://x.example/a.zip", env=ENV,
                   transport=answering(status, body), secrets=(KEY,))
    assert run.code == code
    assert body["error"] in run.err and body["message"] in run.err and run.out == ""


def test_auth_errors_say_which_roles_key_is_needed():
    refused = answering(403, {"error": "forbidden", "message": "This route needs an admin key."})
    run = dfrouter("versionmap", env=ENV, transport=refused, secrets=(KEY,))
    assert run.code == ExitCode.AUTH and "this needs an admin key" in run.err and "ROUTER_ADMIN_KEYS" in run.err
    no_key = dfrouter("release", "--version", "1.0.0", "--package", "https://x.example/a.zip",
                      env={"DFROUTER_URL": ENV["DFROUTER_URL"]}, transport=answering(401, {"error": "unauthorized"}))
    assert no_key.code == ExitCode.AUTH
    assert "No key was given" in no_key.err and "ROUTER_RELEASE_KEYS" in no_key.err and "DFROUTER_KEY" in no_key.err


@pytest.mark.parametrize(
    ("status", "text"),
    [(200, "<html>Your Functions app is up</html>"), (404, "Not Found")],
)
def test_an_answer_that_is_not_the_routers_json_asks_whether_the_url_is_the_router(status, text):
    run = dfrouter("status", env=ENV, transport=answering(status, text=text), secrets=(KEY,))
    assert run.code in (ExitCode.UNREACHABLE, ExitCode.BAD_INPUT) and "base URL (without /api)" in run.err


def test_no_router_url_or_a_bad_one_is_a_usage_error():
    assert dfrouter("status").code == ExitCode.BAD_INPUT
    assert "DFROUTER_URL" in dfrouter("status").err
    assert dfrouter("status", "--router", "ftp://router").code == ExitCode.BAD_INPUT
    run = dfrouter("status", "--router", "https://router.example.net/?code=" + KEY, secrets=(KEY,))
    assert run.code == ExitCode.BAD_INPUT and "--key" in run.err


def test_a_key_a_header_cannot_carry_is_refused_without_being_quoted():
    bad = "s3cret key\u00e9" + "x" * 30
    run = dfrouter("status", env={**ENV, "DFROUTER_KEY": bad}, transport=answering(200, {}), secrets=(bad,))
    assert run.code == ExitCode.BAD_INPUT and "DFROUTER_KEY" in run.err


def test_options_work_before_and_after_the_command_and_the_command_line_key_wins():
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"hasRunning": False, "lanes": {}})

    other = "other-key-" + "o" * 40
    transport = httpx.MockTransport(handle)
    assert dfrouter("--json", "status", "--key", other, env=ENV, transport=transport, secrets=(KEY, other)).code == 0
    assert dfrouter("status", "--router", "http://other.example:8080", env=ENV, transport=transport).code == 0
    assert seen[0].headers["x-functions-key"] == other
    assert str(seen[1].url) == "http://other.example:8080/api/status"


def test_usage_errors_exit_2():
    assert dfrouter().code == ExitCode.BAD_INPUT
    assert dfrouter("release", "--version", "1.0.0").code == ExitCode.BAD_INPUT  # no --package
    assert dfrouter("release", "--version", "1", "--package", "p", "--timeout", "-1").code == ExitCode.BAD_INPUT
    assert dfrouter("lanes").code == ExitCode.BAD_INPUT
    assert dfrouter("instances", "--top", "0").code == ExitCode.BAD_INPUT


# --- the key (and a package URL's SAS token) is never printed -----------------------------------

def test_the_key_is_not_printed_by_verbose_errors_or_a_usage_error():
    refused = answering(401, {"error": "unauthorized", "message": "This route needs a release key."})
    verbose = dfrouter("--verbose", "release", "--version", "1.0.0", "--package", "https://x.example/a.zip",
                       "--key", KEY, env={"DFROUTER_URL": ENV["DFROUTER_URL"]}, transport=refused, secrets=(KEY,))
    assert verbose.code == ExitCode.AUTH and "POST https://router.example.net/api/releases -> 401" in verbose.err
    assert "key given" in verbose.err
    usage = dfrouter("--key", KEY, "status", KEY, secrets=(KEY,))  # argparse quotes the stray argument
    assert usage.code == ExitCode.BAD_INPUT and "***" in usage.err


def test_a_traceback_that_quotes_the_key_is_redacted():
    def echoes_the_key(request: httpx.Request) -> httpx.Response:
        # A library that puts a header into its exception's text, as some do.
        raise RuntimeError(f"cannot send headers {dict(request.headers)}")

    run = dfrouter("--verbose", "status", env=ENV, transport=httpx.MockTransport(echoes_the_key), secrets=(KEY,))
    assert run.code == ExitCode.BUG
    assert "Traceback" in run.err and "RuntimeError" in run.err and "***" in run.err


def test_a_sas_token_in_the_package_url_is_not_printed():
    sas = "sv=2024-11-04&sig=c2VjcmV0LXNpZ25hdHVyZQ"

    def echoes_the_body(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "bad_request", "message": f"Refused {request.content.decode()}"})

    run = dfrouter("release", "--version", "1.0.0", "--package", f"https://x.example/a.zip?{sas}", env=ENV,
                   transport=httpx.MockTransport(echoes_the_body), secrets=(KEY, sas))
    assert run.code == ExitCode.BAD_INPUT


def test_a_terminal_gets_rich_output_and_still_no_key():
    transport, _ = scripted_release(release_status("running", STEPS[:2]), release_status("completed", STEPS))
    clock = FakeClock()
    out, err = io.StringIO(), io.StringIO()
    code = main(["release", "--version", "1.1.0", "--package", "https://x.example/a.zip", "--wait"], stdout=out,
                stderr=err, env=ENV, transport=transport, clock=clock, sleep=clock.sleep, fancy=True)
    assert code == ExitCode.OK
    text = out.getvalue()
    assert "\x1b[" in text, "rich writes terminal escapes"
    for step in STEPS:
        assert step["step"] in text
    assert KEY not in text + err.getvalue()


# --- tables, gate, lanes, instances --------------------------------------------------------------

def router_answering(routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]]):  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes[(request.method, request.url.path)](request)

    return httpx.MockTransport(handle), seen


def status_of(**lanes: dict[str, Any]) -> dict[str, Any]:
    running = any("error" in lane or lane["running"] + lane["pending"] + lane["suspended"] for lane in lanes.values())
    return {"hasRunning": running, "lanes": {key.replace("_", "."): lane for key, lane in lanes.items()}}


IDLE = {"running": 0, "pending": 0, "suspended": 0, "state": "active"}
BUSY = {"running": 1, "pending": 0, "suspended": 2, "state": "draining"}
UNCOUNTED = {"state": "draining", "error": {"error": "lane_unreachable", "message": "No answer."}}


@pytest.mark.parametrize(
    ("status", "argv", "code"),
    [
        (status_of(v1_0=IDLE, v1_1=IDLE), (), ExitCode.OK),
        (status_of(v1_0=BUSY, v1_1=IDLE), (), ExitCode.FAILED),
        (status_of(v1_0=BUSY, v1_1=IDLE), ("--lane", "1.1"), ExitCode.OK),
        (status_of(v1_0=BUSY, v1_1=IDLE), ("--lane", "1.0"), ExitCode.FAILED),
        (status_of(v1_0=UNCOUNTED, v1_1=IDLE), ("--lane", "1.0"), ExitCode.FAILED),
        (status_of(), (), ExitCode.OK),
    ],
)
def test_the_gate_is_open_only_when_nothing_runs_where_it_looks(status, argv, code):
    status = {**status, "lanes": {k.removeprefix("v"): v for k, v in status["lanes"].items()}}
    transport, _ = router_answering({("GET", "/api/status"): lambda r: httpx.Response(200, json=status)})
    run = dfrouter("gate", *argv, env=ENV, transport=transport)
    assert run.code == code, run.out
    assert run.out.startswith("gate open" if code == ExitCode.OK else "gate closed")


def test_the_gate_on_a_lane_without_an_app_is_open_and_on_an_unknown_lane_an_error():
    vmap = {"current": "1.1", "lanes": {"1.0": {"state": "deleted"}, "1.1": {"state": "active"}}}
    transport, _ = router_answering({
        ("GET", "/api/status"): lambda r: httpx.Response(200, json={"hasRunning": False, "lanes": {"1.1": IDLE}}),
        ("GET", "/api/versionmap"): lambda r: httpx.Response(200, json=vmap),
    })
    assert dfrouter("gate", "--lane", "1.0", env=ENV, transport=transport).code == ExitCode.OK
    unknown = dfrouter("gate", "--lane", "9.9", env=ENV, transport=transport)
    assert unknown.code == ExitCode.BAD_INPUT and "1.0, 1.1" in unknown.err


def test_instances_follow_the_continuation_tokens_until_the_top():
    pages = {None: (["a", "b"], "t1"), "t1": (["c", "d"], "t2"), "t2": (["e"], None)}

    def page(request: httpx.Request) -> httpx.Response:
        names, token = pages[request.url.params.get("continuationToken")]
        items = [{"instanceId": n, "lane": "1.0", "name": "process_order", "runtimeStatus": "Completed"}
                 for n in names[: int(request.url.params["top"])]]
        return httpx.Response(200, json={"instances": items, "continuationToken": token})

    transport, seen = router_answering({("GET", "/api/instances"): page})
    everything = dfrouter("instances", "--json", "--page-size", "2", "--lane", "1.0", "--status", "Completed",
                          env=ENV, transport=transport)
    assert [i["instanceId"] for i in json.loads(everything.out)["instances"]] == ["a", "b", "c", "d", "e"]
    assert seen[0].url.params["lane"] == "1.0" and seen[0].url.params["runtimeStatus"] == "Completed"
    seen.clear()
    three = dfrouter("instances", "--top", "3", "--page-size", "2", env=ENV, transport=transport)
    assert three.lines[0] == "3 instance(s)" and len(seen) == 2
    assert [r.url.params["top"] for r in seen] == ["2", "1"]


def test_lane_commands_post_to_their_routes():
    transport, seen = router_answering({
        ("POST", "/api/lanes/1.0/close"): lambda r: httpx.Response(200, json={"lane": "1.0", "state": "draining",
                                                                              "closed": True}),
        ("POST", "/api/lanes/1.0/retire"): lambda r: httpx.Response(202, json={"lane": "1.0", "state": "retiring",
                                                                               "forced": True}),
        ("POST", "/api/current"): lambda r: httpx.Response(200, json={"current": "1.0", "state": "active",
                                                                      "version": "1.0.0"}),
    })
    assert dfrouter("lanes", "close", "1.0", env=ENV, transport=transport).lines == [
        "lane 1.0 closed: it takes no new starts (state draining)"]
    assert "force-retired" in dfrouter("lanes", "retire", "1.0", "--force", env=ENV, transport=transport).out
    assert dfrouter("lanes", "current", "1.0", env=ENV, transport=transport).lines == [
        "lane 1.0 is current: version 1.0.0 (state active)"]
    assert seen[1].url.params["force"] == "true" and json.loads(seen[2].content) == {"lane": "1.0"}


def test_the_cli_loads_neither_azure_functions_nor_the_durable_sdk():
    """It runs on pipeline agents that install httpx (and rich), not the Functions packages."""
    code = ("import sys; from router.cli.main import main; main(['--help'], stdout=open('/dev/null', 'w')); "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('azure')}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_dfrouter_console_script_runs():
    script = Path(sys.executable).parent / "dfrouter"
    assert script.exists(), "`make setup` installs the project (pip install --no-deps -e .), which adds dfrouter"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: dfrouter") and "exit codes:" in shown.stdout
    assert subprocess.run([str(script), "gate"], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", "")}).returncode == ExitCode.BAD_INPUT


def test_without_rich_a_terminal_gets_plain_lines():
    """The router app's requirements do not ship rich: dfrouter must work where it is missing."""
    code = ("import io, sys; sys.modules['rich'] = None\n"
            "from router.cli.output import Output, RedactingStream\n"
            "out = io.StringIO(); output = Output(RedactingStream(out, []), RedactingStream(out, []), fancy=True)\n"
            "output.table('t', ['lane'], [['1.0']]); print(output.fancy, repr(out.getvalue()))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False 't\\nlane\\n----\\n1.0\\n'"


class ClosedPipe(io.StringIO):
    """stdout whose reader went away, as `dfrouter ... | head` leaves it after head's lines."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_stops_quietly_with_its_own_exit_code_not_as_a_bug():
    err = io.StringIO()
    code = main(["lanes", "close", "1.0"], stdout=ClosedPipe(), stderr=err, env=ENV,
                transport=answering(200, {"lane": "1.0", "state": "draining", "closed": True}))
    assert code == ExitCode.BROKEN_PIPE == 141
    assert "unexpected error" not in err.getvalue()
