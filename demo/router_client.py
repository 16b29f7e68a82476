"""A small client of the router's HTTP API, as a release pipeline, a client and an admin use it.

Shared by `make demo` and the end-to-end tests, so both speak to the router exactly the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx


class Timeout(AssertionError):
    """Something did not happen within its deadline."""


@dataclass
class RouterClient:
    base_url: str
    function_key: str  # a client key: starts and instances
    master_key: str  # an admin key: the map, lanes, status
    version_header: str = "X-App-Version"
    timeout: float = 30.0
    release_key: str = ""  # a release pipeline's key; empty: the client key (a router without role keys)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=self.timeout, trust_env=False)

    def close(self) -> None:
        self.http.close()

    # --- release pipeline ----------------------------------------------------------------------

    def post_release(self, version: str, package_url: str, sha256: str | None = None,
                     provision: str | None = None, ramp: dict[str, Any] | None = None,
                     replay_check: dict[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"version": version, "packageUrl": package_url}
        if sha256:
            body["sha256"] = sha256
        if provision:
            body["provision"] = provision
        if ramp is not None:
            body["ramp"] = ramp
        if replay_check is not None:
            body["replayCheck"] = replay_check
        return self.http.post("/api/releases", json=body, headers=self._release())

    def release_status(self, release_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/releases/{release_id}", headers=self._release())
        response.raise_for_status()
        return response.json()

    def wait_release(self, release_id: str, deadline: float = 240.0,
                     on_step: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        seen: set[tuple[str, str]] = set()

        def done() -> dict[str, Any] | None:
            status = self.release_status(release_id)
            for step in status.get("steps", []):
                if (step["step"], step["at"]) not in seen:
                    seen.add((step["step"], step["at"]))
                    if on_step:
                        on_step(step)
            return status if status.get("state") != "running" else None

        return wait_for(done, deadline, f"release {release_id} to finish")

    # --- clients -------------------------------------------------------------------------------

    def start(self, orchestrator: str, body: Any = None, *, version: str | None = None,
              instance_id: str | None = None, raw: bytes | None = None) -> httpx.Response:
        headers = self._function()
        if version is not None:
            headers[self.version_header] = version
        path = f"/api/orchestrators/{orchestrator}" + (f"/{instance_id}" if instance_id else "")
        if raw is not None:
            return self.http.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})
        return self.http.post(path, json=body, headers=headers)

    def get(self, url: str) -> httpx.Response:
        return self.http.get(url, headers=self._function())

    def wait_instance(self, status_url: str, deadline: float = 60.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            status = self.get(status_url).json()
            return status if status.get("runtimeStatus") in ("Completed", "Failed", "Terminated") else None
        return wait_for(done, deadline, f"instance {status_url} to finish")

    def wait_held(self, status_url: str, deadline: float = 240.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            response = self.get(status_url)
            return response.json() if response.status_code != 202 else None
        return wait_for(done, deadline, f"held request {status_url} to be forwarded")

    # --- admins ----------------------------------------------------------------------------------

    def version_map(self) -> dict[str, Any]:
        response = self.http.get("/api/versionmap", headers=self._admin())
        response.raise_for_status()
        return response.json()

    def lane_state(self, lane: str) -> str | None:
        return (self.version_map()["lanes"].get(lane) or {}).get("state")

    def wait_lane_state(self, lane: str, state: str, deadline: float = 120.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            vmap = self.version_map()
            return vmap if (vmap["lanes"].get(lane) or {}).get("state") == state else None
        return wait_for(done, deadline, f"lane {lane} to become {state}")

    def wait_ramp(self, done: Callable[[dict[str, Any]], bool], what: str, deadline: float = 120.0) -> dict[str, Any]:
        """Poll the version map until `done(map)` holds for its ramp (the map is answered)."""
        def check() -> dict[str, Any] | None:
            vmap = self.version_map()
            return vmap if vmap.get("ramp") and done(vmap) else None
        return wait_for(check, deadline, what, interval=0.1)

    def admin_get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers=self._admin())

    def admin_post(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.http.post(path, json=body, params=params, headers=self._admin())

    def _function(self) -> dict[str, str]:
        return {"x-functions-key": self.function_key}

    def _release(self) -> dict[str, str]:
        return {"x-functions-key": self.release_key or self.function_key}

    def _admin(self) -> dict[str, str]:
        return {"x-functions-key": self.master_key}


def wait_for(check: Callable[[], Any], deadline: float, what: str, interval: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy, or fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise Timeout(f"timed out after {deadline:.0f} s waiting for {what}")
        time.sleep(interval)
