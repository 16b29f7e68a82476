"""`python -m devhost replay` on histories recorded from a real dev host (tests/devhost/histories/,
written by tests/devhost/histories/record.py from tests/apps/replay_v1): the code that recorded
them and a compatible patch replay clean; each breaking variant diverges at the right task. The
variants are built from replay_v1 by the edits tests/apps/replay_variants.py lists.

The command runs as `router.cli check-patch` runs it: a subprocess whose `--json` lines are
parsed. The expected differences follow the extension's check, DTFx's
TaskOrchestrationContext.cs (Azure/durabletask src/DurableTask.Core): a history's scheduling
event must meet an action with its sequence number, of its kind and name.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.engine.testing import registry_from_app
from devhost.replay import replay_outcome
from devhost.testing import REPO_ROOT
from tests.apps.replay_variants import replay_app
from tests.devhost.histories.record import APP_V1
from tests.devhost.histories.record import OUTPUT as RECORDED

DOCUMENTS = [json.loads(line) for line in RECORDED.read_text(encoding="utf-8").splitlines() if line.strip()]
IDS = [d["instanceId"] for d in DOCUMENTS]
CHAIN = {"chain-waiting", "chain-done"}
TIMED = {"timed-waiting", "timed-done"}


def replay_json(app_dir: Path, histories: Path = RECORDED) -> tuple[int, dict[str, dict[str, Any]]]:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "replay", str(app_dir), "--histories", str(histories), "--json"],
        cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=120,
    )
    verdicts = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(verdicts) == len(DOCUMENTS), result.stdout + result.stderr
    return result.returncode, {v["instanceId"]: v for v in verdicts}


def orchestrators_of(app_dir: Path) -> dict[str, Any]:
    """The app's orchestrator handles, imported in-process under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"{app_dir.name}_function_app", app_dir / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: f.handle for name, f in registry_from_app(module.app).orchestrators.items()}


def test_the_recordings_hold_timers_events_sub_orchestrations_retries_and_continue_as_new():
    kinds = {e["EventType"] for d in DOCUMENTS for e in d["historyEvents"]}
    assert {"TimerCreated", "TimerFired", "EventRaised", "SubOrchestrationInstanceCompleted",
            "TaskFailed", "TaskCompleted"} <= kinds
    looping = next(d for d in DOCUMENTS if d["instanceId"] == "looping-waiting")
    assert looping["input"] == 2  # two continue_as_new: only the third execution's history is shown
    assert {d["runtimeStatus"] for d in DOCUMENTS} == {"Running", "Completed", "Failed"}


@pytest.mark.parametrize("app", ["replay_v1", "replay_v1_patch_ok"])
def test_the_recording_code_and_a_compatible_patch_replay_every_history_clean(app, tmp_path):
    code, verdicts = replay_json(replay_app(app, tmp_path))
    assert code == 0, verdicts
    assert {v["verdict"] for v in verdicts.values()} == {"clean"}
    assert verdicts["chain-waiting"] == {"instanceId": "chain-waiting", "name": "chain", "verdict": "clean"}


# (variant, instances that diverge, index in historyEvents, expected, produced)
BREAKING = [
    # chain: reserve then charge, swapped: number 0 was 'reserve' (historyEvents[1]).
    ("replay_reordered", CHAIN, 1, "activity 'reserve'", "activity 'charge'"),
    # chain: charge renamed charge_card: number 1 (historyEvents[2]).
    ("replay_renamed", CHAIN, 2, "activity 'charge'", "activity 'charge_card'"),
    # timed: the timer (number 1, TimerCreated at historyEvents[2]) is gone; 'charge' takes its number.
    ("replay_removed_timer", TIMED, 2, "timer", "activity 'charge'"),
    # chain: a wait for 'confirm' before charge takes no number; the code blocks there, so the
    # history's number 1 ('charge', historyEvents[2]) has no action: DTFx's "hasn't (yet?)
    # scheduled this task".
    ("replay_added_wait", CHAIN, 2, "activity 'charge'",
     "nothing: the code waits for external event 'confirm'"),
]


@pytest.mark.parametrize("app, diverging, index, expected, produced", BREAKING, ids=[b[0] for b in BREAKING])
def test_a_breaking_variant_diverges_at_its_first_difference(app, diverging, index, expected, produced,
                                                             tmp_path):
    code, verdicts = replay_json(replay_app(app, tmp_path))
    assert code == 1
    for instance_id, verdict in verdicts.items():
        if instance_id in diverging:
            assert verdict == {"instanceId": instance_id, "name": instance_id.split("-")[0],
                               "verdict": "diverged", "eventIndex": index,
                               "expected": expected, "produced": produced}
        else:
            assert verdict["verdict"] == "clean", verdict


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if d["runtimeStatus"] == "Completed"],
                         ids=[d["instanceId"] for d in DOCUMENTS if d["runtimeStatus"] == "Completed"])
def test_a_completed_history_rebuilds_into_the_output_it_recorded(document):
    # The rebuilt history gives each task its own result (the fan-out's two 'reserve', the
    # retried 'flaky', the timer, the raised event), or the output would differ.
    handle = orchestrators_of(APP_V1)[document["name"]]
    verdict, state = replay_outcome(handle, document)
    assert verdict.verdict == "clean"
    assert state["isDone"] is True
    assert state["output"] == document["output"]


def test_a_history_whose_retries_ran_out_replays_clean_because_the_code_fails_the_same_way():
    # doomed: two failed attempts, each followed by a retry timer (the last fires at once), then
    # the error: the numbers the retry took line up with the history's, and the SDK raises.
    document = next(d for d in DOCUMENTS if d["instanceId"] == "doomed-failed")
    verdict, state = replay_outcome(orchestrators_of(APP_V1)["doomed"], document)
    assert verdict.verdict == "clean"
    assert "always fails" in state["error"]


def test_the_text_output_names_each_instance_its_verdict_and_first_difference(tmp_path):
    renamed = replay_app("replay_renamed", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "replay", str(renamed), "--histories", str(RECORDED)],
        cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert ("chain-waiting  diverged at history event 2: expected activity 'charge', "
            "produced activity 'charge_card'") in lines
    assert "timed-waiting  clean" in lines
    assert lines[-1] == "9 histories: 7 clean, 2 diverged, 0 failed"
