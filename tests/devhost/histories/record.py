"""Record the histories the replay tests replay (tests/devhost/test_replay_*.py).

    .venv/bin/python -m tests.devhost.histories.record

Runs tests/apps/replay_v1 in a real dev host, drives one instance of each orchestrator to where
it waits for its `approve` event (in flight) and another to the end (completed), runs `doomed`
until it fails (its retries exhausted), and writes each
one's status document, exactly as
`GET /runtime/webhooks/durabletask/instances/{id}?showHistory=true&showHistoryOutput=true&showInput=true`
answers it, one per line, to replay_v1.ndjson. Run it again after a change to replay_v1 (and keep
the edits of tests/apps/replay_variants.py in step with it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from devhost.testing import HostHandle, running_host

HERE = Path(__file__).resolve().parent
APP_V1 = HERE.parents[1] / "apps" / "replay_v1"
OUTPUT = HERE / "replay_v1.ndjson"
API = "/runtime/webhooks/durabletask"
HISTORY_QUERY = {"showHistory": "true", "showHistoryOutput": "true", "showInput": "true"}
TIMEOUT_SECONDS = 30.0

Status = dict[str, Any]


def status_document(http: httpx.Client, instance_id: str) -> Status:
    """The instance's status with its whole history, as the Durable HTTP API answers it."""
    response = http.get(f"{API}/instances/{instance_id}", params=HISTORY_QUERY)
    response.raise_for_status()
    return response.json()


def _wait(http: httpx.Client, instance_id: str, ready: Callable[[Status], bool], what: str) -> Status:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        status = status_document(http, instance_id)
        if ready(status):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{instance_id} never got {what}: last status {status['runtimeStatus']}")
        time.sleep(0.05)


def _completed(function_name: str, count: int = 1) -> Callable[[Status], bool]:
    """Ready once `count` completions of the function are in the history (the instance then
    waits for `approve`: nothing else is scheduled after the last step it waits on)."""
    def ready(status: Status) -> bool:
        done = [e for e in status.get("historyEvents") or []
                if e["EventType"] in ("TaskCompleted", "SubOrchestrationInstanceCompleted")
                and e.get("FunctionName") == function_name]
        return len(done) >= count
    return ready


# (orchestrator, input, ready-to-wait-for-approve) of each recorded scenario.
SCENARIOS: list[tuple[str, Any, Callable[[Status], bool]]] = [
    ("chain", "book", _completed("charge")),
    ("timed", None, _completed("charge")),
    ("parent", None, _completed("flaky")),
    ("looping", None, lambda s: s.get("input") == 2 and _completed("reserve")(s)),
]


def record(host: HostHandle) -> list[Status]:
    """Drive every scenario on `host` (serving replay_v1): one instance left waiting for
    `approve`, one approved and completed; and one `doomed` to fail. Returns their status
    documents: in flight, completed, failed."""
    in_flight: list[Status] = []
    completed: list[Status] = []
    with httpx.Client(base_url=host.base_url, timeout=10.0) as http:
        http.post(f"{API}/orchestrators/doomed/doomed-failed").raise_for_status()
        started: list[tuple[str, str, Callable[[Status], bool]]] = []
        for name, input_value, ready in SCENARIOS:
            for outcome in ("waiting", "done"):
                instance_id = f"{name}-{outcome}"
                body = {} if input_value is None else {"json": input_value}
                response = http.post(f"{API}/orchestrators/{name}/{instance_id}", **body)
                response.raise_for_status()
                started.append((instance_id, outcome, ready))
        for instance_id, outcome, ready in started:
            status = _wait(http, instance_id, ready, "to its approve wait")
            if outcome == "waiting":
                in_flight.append(status)
                continue
            http.post(f"{API}/instances/{instance_id}/raiseEvent/approve", json=True).raise_for_status()
            completed.append(_wait(http, instance_id, lambda s: s["runtimeStatus"] == "Completed",
                                   "to Completed"))
        failed = _wait(http, "doomed-failed", lambda s: s["runtimeStatus"] == "Failed", "to Failed")
    return in_flight + completed + [failed]


def write_ndjson(statuses: list[Status], path: Path) -> None:
    path.write_text("".join(json.dumps(s, sort_keys=True) + "\n" for s in statuses), encoding="utf-8")


def main() -> None:
    with running_host(APP_V1) as host:
        statuses = record(host)
    write_ndjson(statuses, OUTPUT)
    print(f"wrote {len(statuses)} histories to {OUTPUT}")


if __name__ == "__main__":
    main()
