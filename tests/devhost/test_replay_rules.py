"""The replay's rules on small histories written as the Durable HTTP API shows them: what counts
as a difference (DTFx, Azure/durabletask src/DurableTask.Core/TaskOrchestrationContext.cs), how
the merged form is rebuilt (azure-functions-durable-extension
src/WebJobs.Extensions.DurableTask/ContextImplementations/DurableClient.cs merges TaskScheduled
into its completion and drops EventId, TimerId and OrchestratorStarted), and the command's
output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost.engine.testing import registry_from_app
from devhost.replay import replay_all, replay_outcome, replay_status
from devhost.testing import REPO_ROOT

T0 = "2026-01-01T00:00:00.000000Z"


def at(ms: int) -> str:
    return f"2026-01-01T00:00:{ms // 1000:02d}.{ms % 1000:03d}000Z"


def started(name: str, input_value: Any = None) -> dict[str, Any]:
    return {"EventType": "ExecutionStarted", "FunctionName": name, "Timestamp": T0,
            "Input": None if input_value is None else json.dumps(input_value)}


def completed(name: str, input_value: Any, result: Any, scheduled: int, done: int) -> dict[str, Any]:
    return {"EventType": "TaskCompleted", "FunctionName": name, "Input": json.dumps(input_value),
            "Result": result, "ScheduledTime": at(scheduled), "Timestamp": at(done)}


def document(name: str, events: list[dict[str, Any]], status: str = "Running", output: Any = None) -> dict[str, Any]:
    return {"name": name, "instanceId": f"{name}-1", "runtimeStatus": status, "input": None,
            "customStatus": None, "output": output, "createdTime": "2026-01-01T00:00:00Z",
            "lastUpdatedTime": "2026-01-01T00:00:09Z", "historyEvents": events}


def handle_of(app: df.DFApp, name: str):
    return registry_from_app(app).orchestrators[name].handle


def fan_out_app(first: str, second: str) -> df.DFApp:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context", orchestration="fan")
    def fan(context: df.DurableOrchestrationContext):
        results = yield context.task_all([context.call_activity("echo", first),
                                          context.call_activity("echo", second)])
        return results

    return app


def fan_out_history() -> dict[str, Any]:
    # Both scheduled in one episode (one ScheduledTime); "b" answered first.
    return document("fan", [started("fan"),
                            completed("echo", "b", "echo b", scheduled=10, done=20),
                            completed("echo", "a", "echo a", scheduled=10, done=30),
                            {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Completed",
                             "Result": ["echo a", "echo b"], "Timestamp": at(40)}],
                    status="Completed", output=["echo a", "echo b"])


def test_tasks_scheduled_at_one_instant_get_their_own_results_back_whatever_order_they_completed_in():
    verdict, state = replay_outcome(handle_of(fan_out_app("a", "b"), "fan"), fan_out_history())
    assert verdict.verdict == "clean"
    assert state["output"] == ["echo a", "echo b"]


def test_swapped_calls_of_one_fan_out_diverge_when_their_scheduling_times_tell_the_order():
    # DTFx stamps each history event when it creates it, and so does the dev host (1 us apart
    # within an episode: devhost/engine/episode.py _stamp_in_order), so ScheduledTime orders them.
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context", orchestration="fan")
    def fan(context: df.DurableOrchestrationContext):
        # The history scheduled audit, then notify; this code schedules them the other way.
        return (yield context.task_all([context.call_activity("notify", None),
                                        context.call_activity("audit", None)]))

    history = document("fan", [started("fan"),
                               {**completed("notify", None, "n", scheduled=10, done=20),
                                "ScheduledTime": "2026-01-01T00:00:00.010001Z"},
                               completed("audit", None, "a", scheduled=10, done=30)])
    verdict = replay_status(handle_of(app, "fan"), history)
    assert (verdict.verdict, verdict.event_index, verdict.expected, verdict.produced) == (
        "diverged", 2, "activity 'audit'", "activity 'notify'")


def two_steps(*activities: str, then_raise: Exception | None = None):
    """The handle of an orchestrator `two_steps` that calls these activities in order (the
    histories here record two: create, then configure), then raises `then_raise` if given."""
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context", orchestration="two_steps")
    def orchestrator(context: df.DurableOrchestrationContext):
        for name in activities:
            yield context.call_activity(name, None)
        if then_raise is not None:
            raise then_raise
        return "done"

    return handle_of(app, "two_steps")


def two_steps_history() -> dict[str, Any]:
    return document("two_steps", [started("two_steps"),
                                  completed("create", None, None, scheduled=10, done=20),
                                  completed("configure", None, None, scheduled=30, done=40)])


def test_activity_names_are_compared_ignoring_case_as_dtfx_does():
    # TaskOrchestrationContext.cs HandleTaskScheduledEvent: StringComparison.OrdinalIgnoreCase.
    assert replay_status(two_steps("Create", "CONFIGURE"), two_steps_history()).clean


def test_an_extra_step_before_the_history_ends_diverges_where_it_takes_a_history_tasks_number():
    verdict = replay_status(two_steps("create", "audit", "configure"), two_steps_history())
    assert verdict.to_json() == {"instanceId": "two_steps-1", "name": "two_steps", "verdict": "diverged",
                                 "eventIndex": 2, "expected": "activity 'configure'",
                                 "produced": "activity 'audit'"}


def test_steps_after_the_end_of_the_history_are_new_work_not_a_difference():
    assert replay_status(two_steps("create", "configure", "notify"), two_steps_history()).clean


def test_a_task_still_unanswered_is_compared_where_the_api_shows_it():
    # A TaskScheduled no completion answered stays in place, without EventId (DurableClient.cs).
    history = document("two_steps", [started("two_steps"),
                                     completed("create", None, None, scheduled=10, done=20),
                                     {"EventType": "TaskScheduled", "Name": "configure", "Input": None,
                                      "Timestamp": at(30)}])
    assert replay_status(two_steps("create", "configure"), history).clean
    verdict = replay_status(two_steps("create", "configure_v2"), history)
    assert (verdict.verdict, verdict.event_index, verdict.expected, verdict.produced) == (
        "diverged", 2, "activity 'configure'", "activity 'configure_v2'")


def test_suspension_and_event_types_the_sdk_does_not_know_are_carried_or_left_out():
    history = document("two_steps", [started("two_steps"),
                                     completed("create", None, None, scheduled=10, done=20),
                                     {"EventType": "ExecutionSuspended", "Timestamp": at(25), "Input": "pause"},
                                     {"EventType": "ExecutionResumed", "Timestamp": at(26), "Input": None},
                                     {"EventType": "SomethingNewer", "Timestamp": at(27)},
                                     completed("configure", None, None, scheduled=30, done=40)],
                       status="Suspended")
    assert replay_status(two_steps("create", "configure"), history).clean


def test_a_history_that_cannot_be_read_fails_with_the_reason():
    history = document("two_steps", [completed("create", None, None, scheduled=10, done=20)])
    verdict = replay_status(two_steps("create", "configure"), history)
    assert verdict.to_json() == {"instanceId": "two_steps-1", "name": "two_steps", "verdict": "failed",
                                 "error": "the history cannot be read: the history does not begin with ExecutionStarted"}


def test_an_orchestrator_that_raises_on_replay_fails_with_its_exception():
    verdict = replay_status(two_steps("create", then_raise=KeyError("region")), two_steps_history())
    assert verdict.verdict == "failed"
    assert "region" in (verdict.error or "")


def test_a_history_that_failed_and_fails_the_same_way_again_is_clean():
    history = document("two_steps", [started("two_steps"),
                                     completed("create", None, None, scheduled=10, done=20),
                                     {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Failed",
                                      "Result": "Orchestrator function 'two_steps' failed: 'region'",
                                      "Timestamp": at(30)}], status="Failed")
    assert replay_status(two_steps("create", then_raise=KeyError("region")), history).clean


def test_a_pending_history_is_clean_and_a_missing_orchestrator_fails_it():
    pending = document("two_steps", [], status="Pending")
    handles = {"two_steps": two_steps("create", "configure")}
    assert [v.verdict for v in replay_all(handles, [pending])] == ["clean"]
    gone = replay_all({}, [pending])[0]
    assert gone.to_json() == {"instanceId": "two_steps-1", "name": "two_steps", "verdict": "failed",
                              "error": "The function 'two_steps' doesn't exist in the app."}


def run_replay(app_dir: Path, histories: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devhost", "replay", str(app_dir), "--histories", str(histories),
                           *flags], cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=120)


def write_app(app_dir: Path, *, with_dependency: bool) -> None:
    app_dir.mkdir()
    (app_dir / "host.json").write_text('{"version": "2.0"}')
    (app_dir / "function_app.py").write_text(
        "import azure.durable_functions as df\n"
        "import replay_rules_dependency\n\n"
        "app = df.DFApp()\n\n\n"
        "@app.orchestration_trigger(context_name='context', orchestration='two_steps')\n"
        "def two_steps(context):\n"
        "    yield context.call_activity(replay_rules_dependency.FIRST, None)\n"
        "    yield context.call_activity('configure', None)\n")
    if with_dependency:
        packages = app_dir / ".python_packages" / "lib" / "site-packages"
        packages.mkdir(parents=True)
        (packages / "replay_rules_dependency.py").write_text("FIRST = 'create'\n")


def test_a_package_replays_with_its_own_python_packages_first_on_sys_path(tmp_path):
    histories = tmp_path / "histories.ndjson"
    histories.write_text(json.dumps(two_steps_history()) + "\n")
    write_app(tmp_path / "package", with_dependency=True)
    result = run_replay(tmp_path / "package", histories, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {"instanceId": "two_steps-1", "name": "two_steps", "verdict": "clean"}


def test_a_package_that_cannot_load_fails_every_history_with_the_reason(tmp_path):
    histories = tmp_path / "histories.ndjson"
    histories.write_text(json.dumps(two_steps_history()) + "\n")
    write_app(tmp_path / "package", with_dependency=False)
    result = run_replay(tmp_path / "package", histories, "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "failed"
    assert "replay_rules_dependency" in verdict["error"] and ".python_packages" in verdict["error"]


def test_histories_that_are_not_json_stop_the_command_with_the_file_and_line(tmp_path):
    histories = tmp_path / "histories.ndjson"
    histories.write_text(json.dumps(two_steps_history()) + "\n{not json\n")
    result = run_replay(REPO_ROOT / "tests" / "apps" / "replay_v1", histories, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{histories}:2: not JSON" in result.stderr


def test_histories_that_are_not_text_stop_the_command_with_the_file(tmp_path):
    histories = tmp_path / "package.zip"
    histories.write_bytes(b"PK\x03\x04\xb8\xff\x00binary")
    result = run_replay(REPO_ROOT / "tests" / "apps" / "replay_v1", histories, "--json")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert f"{histories}: cannot be read as UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_status_document_fetched_without_its_history_fails_instead_of_passing_unchecked():
    # GET .../instances/{id} answers historyEvents only with showHistory=true (Durable HTTP API,
    # "Get instance status"); without them nothing was compared, so "clean" would be a false pass.
    running = document("two_steps", [])
    del running["historyEvents"]
    verdict = replay_status(two_steps("create", "configure"), running)
    assert verdict.verdict == "failed"
    assert "showHistory=true" in (verdict.error or "")
    pending = {**running, "runtimeStatus": "Pending"}  # nothing ran yet: nothing to contradict
    assert replay_status(two_steps("create", "configure"), pending).clean


def test_a_line_that_is_neither_a_status_document_nor_an_old_recording_fails_naming_what_it_lacks(tmp_path):
    histories = tmp_path / "histories.ndjson"
    histories.write_text(json.dumps({"name": "two_steps", "instanceId": "i-1"}) + "\n")
    write_app(tmp_path / "package", with_dependency=True)
    result = run_replay(tmp_path / "package", histories, "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["instanceId"] == "i-1" and verdict["verdict"] == "failed"
    assert "historyEvents" in verdict["error"]
