"""SIGKILL the dev host mid-flight; a new process on the same data dir finishes everything.

Three orchestrations are caught at the worst moments: waiting on a durable timer, waiting on an
external event, and inside a running (slow) activity whose result was never committed.
"""

from datetime import datetime
from pathlib import Path

import pytest

from devhost.testing import running_host
from tests.devhost.e2e_support import (
    FEATURES_APP,
    client_for,
    event_url,
    fresh_id,
    poll_finished,
    poll_status,
    start_via_durable_api,
    wait_for,
)

pytestmark = pytest.mark.e2e

TIMER_SECONDS = 4
# The slow activity runs until the test leaves its release mark (this long at most), so the kill
# surely lands inside it: a fixed 3 s sleep could end, and commit, before a loaded machine's kill.
SLOW_ACTIVITY_MAX_SECONDS = 60


def test_sigkill_loses_nothing_committed(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    marks = scratch / "features-app"
    with running_host(
        FEATURES_APP, data_dir=tmp_path / "data", env={"FEATURES_SCRATCH_DIR": str(scratch)}
    ) as host:
        with client_for(host) as http:
            event = start_via_durable_api(http, host, "approval", fresh_id("event"))
            slow_id = fresh_id("slow")
            slow = start_via_durable_api(http, host, "slow_task", slow_id, SLOW_ACTIVITY_MAX_SECONDS)
            started_mark = marks / f"{slow_id}.slow-started"

            # Kill only once each one is parked where we want it.
            poll_status(
                http,
                event["statusQueryGetUri"],
                lambda s: s.get("customStatus", {}).get("stage") == "waiting",
            )
            # The mark's line, not the file: the file exists from open(), before its line is written.
            wait_for(lambda: started_mark.exists() and started_mark.read_text(), "the slow activity to start")
            # The timer last, just before the kill: its TIMER_SECONDS start with it.
            timer = start_via_durable_api(http, host, "durable_timer", fresh_id("timer"), TIMER_SECONDS)
            timer_before = poll_status(
                http, timer["statusQueryGetUri"], lambda s: s["runtimeStatus"] != "Pending"
            )
            assert timer_before["runtimeStatus"] == "Running", timer_before
            assert "output" not in timer_before or timer_before["output"] is None

            host.kill()
            assert host.process.poll() is not None
            host.restart()
            (marks / f"{slow_id}.release").touch()  # only the run after the restart may finish

            assert http.post(event_url(event, "Approval"), json="after the crash").status_code == 202
            timer_done = poll_finished(http, timer["statusQueryGetUri"])
            event_done = poll_finished(http, event["statusQueryGetUri"])
            slow_done = poll_finished(http, slow["statusQueryGetUri"])

    assert timer_done["runtimeStatus"] == "Completed"
    fired = timer_done["output"]
    assert datetime.fromisoformat(fired["resumed"]) >= datetime.fromisoformat(fired["fireAt"])
    assert (event_done["runtimeStatus"], event_done["output"]) == (
        "Completed",
        {"decision": "after the crash"},
    )
    assert slow_done["runtimeStatus"] == "Completed"
    assert slow_done["output"]["echo"] == slow_id
    # The first run died with the process; the activity ran again after the restart.
    assert slow_done["output"]["attempt"] == 2
