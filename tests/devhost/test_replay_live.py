"""End to end: histories fetched live from a real lane (a dev host serving tests/apps/replay_v1,
read through its Durable HTTP API as the router's histories endpoint reads a lane) replay clean
against the code that made them and a compatible patch, and diverge against a breaking one; the
in-flight instances still finish on the old code afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from devhost.testing import REPO_ROOT, running_host
from tests.apps.replay_variants import replay_app
from tests.devhost.e2e_support import poll_status
from tests.devhost.histories.record import API, APP_V1, record, write_ndjson


def replay(app: Path, histories: Path) -> tuple[int, dict[str, dict]]:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "replay", str(app), "--histories", str(histories), "--json"],
        cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=120,
    )
    return result.returncode, {v["instanceId"]: v for v in map(json.loads, result.stdout.splitlines())}


def test_histories_fetched_from_a_live_lane_replay_with_timers_events_sub_orchestrations_retries_and_continue_as_new(tmp_path):
    histories = tmp_path / "lane.ndjson"
    with running_host(APP_V1) as host:
        statuses = record(host)
        write_ndjson(statuses, histories)
        kinds = {e["EventType"] for s in statuses for e in s["historyEvents"]}
        assert {"TimerFired", "EventRaised", "SubOrchestrationInstanceCompleted", "TaskFailed"} <= kinds
        assert {s["instanceId"]: s["runtimeStatus"] for s in statuses if s["instanceId"].endswith("-waiting")} == {
            "chain-waiting": "Running", "timed-waiting": "Running", "parent-waiting": "Running",
            "looping-waiting": "Running"}

        for app in ("replay_v1", "replay_v1_patch_ok"):
            code, verdicts = replay(replay_app(app, tmp_path), histories)
            assert code == 0, verdicts
            assert {v["verdict"] for v in verdicts.values()} == {"clean"}
            assert set(verdicts) == {s["instanceId"] for s in statuses}

        code, verdicts = replay(replay_app("replay_reordered", tmp_path), histories)
        assert code == 1
        assert verdicts["chain-waiting"]["verdict"] == "diverged"
        assert verdicts["chain-waiting"]["expected"] == "activity 'reserve'"

        # Replaying read nothing but the histories: the waiting instances go on on the lane.
        with httpx.Client(base_url=host.base_url, timeout=10.0) as http:
            http.post(f"{API}/instances/looping-waiting/raiseEvent/approve", json=True).raise_for_status()
            status = poll_status(http, f"{API}/instances/looping-waiting",
                                 lambda s: s["runtimeStatus"] != "Running")
            assert status["runtimeStatus"] == "Completed"
            assert status["output"] == {"rounds": 3, "approved": True}
