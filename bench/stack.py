"""The bench's system under test: the router in the dev host with one local lane (sample 1.0.0).

Everything is reached through its HTTP API, as a client would; the bench only reads the lane's
system key from the local provisioner's files (a client of the lane's Durable HTTP API needs it)
and the processes' ids, whose CPU and memory it reads from /proc.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo.router_client import RouterClient
from demo.stack import running_router
from devhost.durable_urls import WEBHOOK_PATH
from samples.build import build_package

LANE = "1.0"
LANE_VERSION = "1.0.0"
ORCHESTRATOR = "process_order"


@dataclass(frozen=True)
class Stack:
    router: RouterClient
    router_pid: int
    lane_url: str  # the lane app's base URL
    lane_key: str  # the lane's durabletask system key
    lane_pid: int
    work_dir: Path

    @property
    def router_start_url(self) -> str:
        return f"{self.router.base_url}/api/orchestrators/{ORCHESTRATOR}"

    def router_headers(self) -> dict[str, str]:
        return {"x-functions-key": self.router.function_key, self.router.version_header: LANE_VERSION}

    def router_status_url(self, instance_id: str) -> str:
        return f"{self.router.base_url}/api/instances/{LANE}/{instance_id}"

    def lane_start_path(self) -> str:
        return f"{WEBHOOK_PATH}/orchestrators/{ORCHESTRATOR}"

    def lane_status_path(self, instance_id: str) -> str:
        return f"{WEBHOOK_PATH}/instances/{instance_id}"

    def lane_headers(self) -> dict[str, str]:
        return {"x-functions-key": self.lane_key}


def lane_state(lanes_root: Path, lane_dir: str) -> dict[str, object]:
    return json.loads((lanes_root / "lanes" / lane_dir / "state.json").read_text())


@contextmanager
def running_stack(settings: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """The router with lane 1.0 active, stopped (lanes included) on exit."""
    with tempfile.TemporaryDirectory(prefix="bench-router-") as work:
        work_dir = Path(work)
        with running_router(settings, work_dir=work_dir) as router:
            response = router.post_release(LANE_VERSION, str(build_package(LANE_VERSION, work_dir)))
            response.raise_for_status()
            release = router.wait_release(response.json()["id"])
            if release["state"] != "completed":
                raise RuntimeError(f"the bench's lane did not come up: {release}")
            lane = router.version_map()["lanes"][LANE]
            lanes_root: Path = router.lanes_root  # type: ignore[attr-defined]
            secrets = json.loads((lanes_root / "lanes" / "lane-1-0" / "secrets.json").read_text())
            state = lane_state(lanes_root, "lane-1-0")
            yield Stack(
                router=router,
                router_pid=router.host.process.pid,  # type: ignore[attr-defined]
                lane_url=lane["app_url"].rstrip("/"),
                lane_key=secrets["durableTaskKey"],
                lane_pid=int(state["pid"]),  # type: ignore[arg-type]
                work_dir=work_dir,
            )
