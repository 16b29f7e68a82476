"""What a lane app's Functions host says about itself, read from its own HTTPS endpoints.

ARM only tells that a site exists and is `Running`; whether the host serves the package, loaded
its functions and answers the Durable HTTP API is the host's to say. The azure-functions-host
endpoints read here:

- `GET /admin/host/status` (master key; HostController.GetHostStatus, model in
  src/WebJobs.Script.WebHost/Models/HostStatus.cs): `state` (ScriptHostState: Default, Starting,
  Initialized, Running, Error, Stopping, Stopped, Offline), `processUptime` (milliseconds since
  the host process started: a settings or package change restarts it) and `errors`.
- `GET /admin/functions` (master key; FunctionsController.List): the functions the host indexed,
  each with its `config.bindings`.
- the Durable extension's `GET /runtime/webhooks/durabletask/instances?top=1` (system key).

Keys travel only in the `x-functions-key` header; no message here holds a key or a body that
could. Everything not answered yet is `HostNotReady`, a transient error the readiness loop waits
out; only functions that cannot load are final.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from provisioning.base import DURABLE_API_PATH
from provisioning.errors import PackageError, TransientProvisioningError

RUNNING = "Running"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
# The worker's own words when a function app cannot be imported or indexed (a package run from
# a URL gets no remote build, so a dependency left out of it is a ModuleNotFoundError).
_LOAD_FAILURE = re.compile(
    r"ModuleNotFoundError|ImportError|No module named|failed to (?:load|index)|indexing", re.IGNORECASE
)
_MAX_DETAIL = 300
PACKAGES_HINT = (
    "a package run from a URL gets no remote build: its dependencies must be inside it under "
    ".python_packages/lib/site-packages, built for Linux and the app's Python "
    "(python -m provisioning package APP_DIR --out FILE.zip builds one)"
)


class HostNotReady(TransientProvisioningError):
    """The app's host does not answer, or not yet as a host serving the package does."""

    code = "lane_not_ready"


@dataclass(frozen=True)
class HostStatus:
    state: str
    process_uptime_ms: float | None
    errors: tuple[str, ...]

    def started_at(self, now: datetime) -> datetime | None:
        """When the host process started, by `now` on the caller's clock."""
        if self.process_uptime_ms is None:
            return None
        return now - timedelta(milliseconds=self.process_uptime_ms)


def parse_host_status(body: Any) -> HostStatus:
    if not isinstance(body, dict):
        raise HostNotReady("the host's status is not a JSON object")
    uptime = body.get("processUptime")
    errors = body.get("errors") or ()
    return HostStatus(
        state=str(body.get("state") or "Unknown"),
        process_uptime_ms=float(uptime) if isinstance(uptime, (int, float)) else None,
        errors=tuple(str(e) for e in errors) if isinstance(errors, (list, tuple)) else (str(errors),),
    )


def load_failure(status: HostStatus) -> PackageError | None:
    """The final error of a host whose functions could not load, or None."""
    failures = [e for e in status.errors if _LOAD_FAILURE.search(e)]
    if not failures:
        return None
    said = "; ".join(failures)[:_MAX_DETAIL]
    return PackageError(f"the app's host could not load the package's functions ({said}); {PACKAGES_HINT}")


def orchestrators(functions: Any) -> list[str]:
    """Names of the indexed functions that are orchestrators (`/admin/functions`' answer)."""
    found = []
    for function in functions if isinstance(functions, list) else []:
        config = function.get("config") if isinstance(function, dict) else None
        bindings = config.get("bindings") if isinstance(config, dict) else None
        if any(isinstance(b, dict) and b.get("type") == ORCHESTRATION_TRIGGER for b in bindings or ()):
            found.append(str(function.get("name")))
    return sorted(found)


def serving_since(status: HostStatus, deployed_at: str, now: datetime) -> str | None:
    """Why the host is not the one serving the package set at `deployed_at`, or None if it is."""
    if not deployed_at:
        return None  # the package did not change: whichever host runs serves it
    started = status.started_at(now)
    if started is None:
        return "the host does not report its uptime, so it cannot show it restarted with the package"
    deployed = datetime.fromisoformat(deployed_at)
    if deployed.tzinfo is None:  # the orchestration's clock is UTC, with or without its offset
        deployed = deployed.replace(tzinfo=timezone.utc)
    if started < deployed:
        return (
            f"the host still runs from before the package was set (started {started.isoformat()}, "
            f"package set {deployed_at}): it has not restarted with it yet"
        )
    return None


class LaneHost:
    """One lane app's host over HTTPS (`transport` replaces the network in tests)."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # The system's trust store (and SSL_CERT_FILE, as OpenSSL reads it), or a CA bundle's path.
        context: ssl.SSLContext | bool = verify
        if verify is True or isinstance(verify, str):
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        self._client = httpx.AsyncClient(
            base_url=self._base_url, transport=transport, verify=context, timeout=timeout, trust_env=False
        )

    async def __aenter__(self) -> LaneHost:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._client.aclose()

    async def status(self, master_key: str) -> HostStatus:
        return parse_host_status(await self._get_json("/admin/host/status", master_key, "status"))

    async def functions(self, master_key: str) -> Any:
        return await self._get_json("/admin/functions", master_key, "function list")

    async def durable_api(self, system_key: str) -> None:
        """Answers when the Durable HTTP API accepts the system key; raises HostNotReady otherwise."""
        await self._get_json(f"{DURABLE_API_PATH}/instances", system_key, "Durable HTTP API", {"top": "1"})

    async def _get_json(
        self, path: str, key: str, what: str, params: dict[str, str] | None = None
    ) -> Any:
        try:
            response = await self._client.get(path, params=params, headers={"x-functions-key": key})
        except httpx.HTTPError as err:
            raise HostNotReady(f"the host's {what} did not answer ({type(err).__name__})") from None
        if response.status_code != 200:
            raise HostNotReady(f"the host's {what} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise HostNotReady(f"the host's {what} answered something that is not JSON") from None


def describe_orchestrators(names: Sequence[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{len(names)} orchestrator(s) indexed ({shown})"
