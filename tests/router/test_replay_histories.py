"""The router can upgrade itself: histories recorded from earlier router code, at each phase of
each orchestrator, replay against today's code without a difference in what they schedule.

The lifecycles loop for days with `continue_as_new`, so a router release that changes
`orchestrators.py` replays them with new code. A failure here is the non-determinism that would
break them; docs/architecture.md says what to do instead ("Upgrading the router itself").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import azure.durable_functions as df
import pytest

import function_app
from devhost.engine.testing import registry_from_app
from devhost.replay import replay_history

REPO_ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))
PHASES = {
    "lane_lifecycle": {"provisioning", "failed", "watching", "unhealthy", "patched", "draining", "retiring",
                       "delete_failed", "deleted",
                       "ramped",  # an activation that started a ramp
                       "patch_warned", "patch_refused"},  # the local replay gate on a patch
    "release": {"handed_to_lane"},
    "held_request": {"held", "forwarded"},
    "map_command": {"completed", "ramp_started"},
    "ramp": {"stepping", "completed", "aborted"},
}


def recorded(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def orchestrators():
    return registry_from_app(function_app.app).orchestrators


def test_every_orchestrator_has_a_recorded_history_at_each_phase():
    have: dict[str, set[str]] = {}
    for path in HISTORIES:
        data = recorded(path)
        have.setdefault(data["orchestrator"], set()).add(data["phase"])
    for orchestrator, phases in PHASES.items():
        assert phases <= have.get(orchestrator, set()), f"{orchestrator} lacks {phases - have.get(orchestrator, set())}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_a_recorded_history_replays_against_todays_code(path, orchestrators):
    data = recorded(path)
    result = replay_history(orchestrators[data["orchestrator"]].handle, data)
    assert result.ok, result.problems


# The checker itself: a history recorded from one call order fails against another.

def _app(first: str, second: str) -> df.DFApp:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context", orchestration="two_steps")
    def two_steps(context: df.DurableOrchestrationContext):
        yield context.call_activity(first, None)
        yield context.call_activity(second, None)

    return app


def _history_of_two_steps() -> dict:
    started = {"EventType": 0, "EventId": -1, "IsPlayed": True, "Timestamp": "2026-01-01T00:00:00Z",
               "Name": "two_steps", "Input": None, "Version": ""}
    begin = {"EventType": 12, "EventId": -1, "IsPlayed": True, "Timestamp": "2026-01-01T00:00:00Z"}
    scheduled = {"EventType": 4, "EventId": 0, "IsPlayed": True, "Timestamp": "2026-01-01T00:00:00Z",
                 "Name": "create", "Input": None}
    done = {"EventType": 5, "EventId": -1, "IsPlayed": True, "Timestamp": "2026-01-01T00:00:01Z",
            "TaskScheduledId": 0, "Result": "null"}
    return {"orchestrator": "two_steps", "instanceId": "x", "input": None,
            "history": [begin, started, scheduled, {**begin, "EventType": 13}, begin, done]}


def test_a_history_replays_against_the_same_call_order():
    handle = registry_from_app(_app("create", "configure")).orchestrators["two_steps"].handle
    assert replay_history(handle, _history_of_two_steps()).ok


def test_a_history_fails_against_a_changed_call_order():
    handle = registry_from_app(_app("configure", "create")).orchestrators["two_steps"].handle
    result = replay_history(handle, _history_of_two_steps())
    assert result.problems == ("step 0: the history scheduled activity 'create', the code schedules "
                               "activity 'configure'",)


def _replay_cli(histories: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROUTER_TASK_HUB": "RouterHub"}
    return subprocess.run([sys.executable, "-m", "devhost", "replay", str(REPO_ROOT), "--histories", str(histories)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_replay_command_passes_the_recorded_histories():
    result = _replay_cli(HISTORIES[0].parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == len(HISTORIES)


def test_the_replay_command_fails_a_history_the_code_no_longer_fits(tmp_path):
    data = recorded(next(p for p in HISTORIES if "provisioning" in p.name))
    for event in data["history"]:
        if event.get("Name") == "configure_app":
            event["Name"] = "configure_app_v0"  # as if an older router had called it that
    (tmp_path / "old.ndjson").write_text(json.dumps(data) + "\n")
    result = _replay_cli(tmp_path / "old.ndjson")
    assert result.returncode == 1
    assert "the history scheduled activity 'configure_app_v0', the code schedules activity 'configure_app'" in result.stdout
